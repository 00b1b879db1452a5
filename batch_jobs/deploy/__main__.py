"""`python -m batch_jobs.deploy COMMAND ...`."""

from __future__ import annotations

import sys

from batch_jobs.deploy.cli import main

sys.exit(main())
