"""Model catalog data (installed as the package ``safe_local.catalog``).

Holds data only: offline.toml lists the offline models, their files, sizes, sha256 and the PyPI
packages that carry them. Read it through safe_local.offline_models, never by importing this.
"""
