"""list_local and remove against a real HF cache filled through the stand-in Hub."""

from __future__ import annotations

import re

import pytest

from safe_local import paths, store
from safe_local.errors import SafeLocalError
from safe_local.offline_models import offline_model_info, offline_model_names
from safe_local.store import NotDownloaded, resolve_model
from safe_local.store.hub import cached_ggufs

REPO = "test-org/Tiny-GGUF"


def test_list_local_names_offline_and_downloaded_models(hub, small_gguf, pulled_model_paths):
    hub.add(REPO, "tiny-Q4_K_M.gguf", small_gguf)
    hub.add(REPO, "sub/other.gguf", small_gguf)
    store.pull(REPO)
    store.pull(f"{REPO}/sub/other.gguf")
    models = store.list_local()
    assert [m.name for m in models if m.source == "pypi"] == offline_model_names()
    hub_models = {m.name: m for m in models if m.source == "hub"}
    assert set(hub_models) == {f"{REPO}/tiny-Q4_K_M.gguf", f"{REPO}/sub/other.gguf"}
    assert hub_models[f"{REPO}/sub/other.gguf"].size == small_gguf.stat().st_size
    assert all(store.is_local(name) for name in hub_models)


def write_config(text: str) -> None:
    paths.config_dir().mkdir(parents=True, exist_ok=True)
    (paths.config_dir() / "config.toml").write_text(text, encoding="utf-8")


def test_catalog_models_are_listed_by_their_catalog_name(hub, small_gguf):
    write_config(f'[models.tiny-test]\nrepo = "{REPO}"\nfiles = {{ Q4_K_M = "tiny-Q4_K_M.gguf", Q8_0 = "tiny-Q8_0.gguf" }}\n')
    hub.add(REPO, "tiny-Q4_K_M.gguf", small_gguf)
    hub.add(REPO, "tiny-Q8_0.gguf", small_gguf)
    store.pull("tiny-test")
    store.pull("tiny-test:Q8_0")
    assert {m.name for m in store.list_local() if m.source == "hub"} == {"tiny-test", "tiny-test:Q8_0"}


def test_remove_deletes_the_link_and_the_unshared_blob(hub, small_gguf, smol_gguf):
    hub.add(REPO, "tiny-Q4_K_M.gguf", small_gguf)
    hub.add(REPO, "smol-Q4_1.gguf", smol_gguf)
    tiny = store.pull(f"{REPO}/tiny-Q4_K_M.gguf")
    smol = store.pull(f"{REPO}/smol-Q4_1.gguf")
    blob = tiny.resolve()
    assert store.remove(f"{REPO}:Q4_K_M") == small_gguf.stat().st_size
    assert not tiny.exists() and not blob.exists()
    assert smol.exists() and [c.file for c in cached_ggufs()] == ["smol-Q4_1.gguf"]
    assert not store.is_local(f"{REPO}/tiny-Q4_K_M.gguf")


def test_a_user_model_named_like_an_offline_one_wins_everywhere(hub, small_gguf):
    write_config(f'[models.smollm2-135m]\nrepo = "{REPO}"\nfiles = {{ Q4_K_M = "tiny-Q4_K_M.gguf" }}\n')
    with pytest.raises(NotDownloaded, match="smollm2-135m is not downloaded yet"):
        resolve_model("smollm2-135m")
    assert not store.is_local("smollm2-135m") and "smollm2-135m" not in {m.name for m in store.list_local()}
    hub.add(REPO, "tiny-Q4_K_M.gguf", small_gguf)
    pulled = store.pull("smollm2-135m")
    assert resolve_model("smollm2-135m") == pulled and pulled.name == "tiny-Q4_K_M.gguf"
    listed = [m for m in store.list_local() if m.name == "smollm2-135m"]
    assert [(m.source, m.file) for m in listed] == [("hub", pulled)]
    assert store.remove("smollm2-135m") == small_gguf.stat().st_size


def test_remove_refuses_what_it_does_not_own():
    smol_q8 = paths.cache_dir() / "models" / "SmolLM2-135M-Instruct.Q4_1-as-Q8_0.gguf"
    with pytest.raises(SafeLocalError, match=re.escape(
        f"smollm2-135m is installed from PyPI, not downloaded: nothing to remove "
        f"(its Q8_0 copy {smol_q8} may be deleted; it is rebuilt on use)"
    )):
        store.remove("smollm2-135m")
    gemma = paths.cache_dir() / "models" / offline_model_info("gemma3-270m").file
    with pytest.raises(SafeLocalError, match=re.escape(f"(its assembled copy {gemma} may be deleted; it is rebuilt on use)")):
        store.remove("gemma3-270m")
    with pytest.raises(SafeLocalError, match="llama3.2-1b is not downloaded"):
        store.remove("llama3.2-1b")
    with pytest.raises(SafeLocalError, match="unknown model 'bogus'"):
        store.remove("bogus")
