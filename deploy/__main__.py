"""`python -m deploy COMMAND ...`."""

from __future__ import annotations

import sys

from deploy.cli import main

sys.exit(main())
