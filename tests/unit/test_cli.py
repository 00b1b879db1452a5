"""The `autoretrain` command loads only what the chosen subcommand needs."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("pulumi", "moto", "sklearn", "pandas", "autoretrain.demo", "batch_jobs", "infra")


def test_importing_the_command_line_loads_no_subcommand() -> None:
    script = "import json, sys, autoretrain.cli; print(json.dumps(sorted(sys.modules)))"
    loaded = json.loads(subprocess.run([sys.executable, "-c", script], check=True, capture_output=True).stdout)
    assert [name for name in loaded if name.split(".")[0] in HEAVY or name.startswith(HEAVY)] == []
