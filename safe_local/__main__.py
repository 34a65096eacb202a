"""`python -m safe_local` is the `safe-local` command."""

import sys

from safe_local.cli import main

sys.exit(main())
