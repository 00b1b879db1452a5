"""The Pulumi program, run once under mocks with the example stack config; tests assert on the recorded graph."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from infra.mocks import Recording, load_stack_config, run_stack

REPO_ROOT = Path(__file__).resolve().parents[2]
DEV_STACK_CONFIG = REPO_ROOT / "Pulumi.dev.yaml"


@pytest.fixture(scope="session")
def dev_config() -> dict[str, str]:
    """Pulumi.dev.yaml as the engine hands it to the program."""
    return load_stack_config(DEV_STACK_CONFIG)


@pytest.fixture(scope="session")
def stack(dev_config: dict[str, str]) -> Recording:
    """Every resource the program registers with the example config (one run for the whole session)."""
    with warnings.catch_warnings():
        # pulumi_aws announces its own renamed classes when their modules load; deprecations we cause still show.
        warnings.filterwarnings("ignore", message=".* has been deprecated in favor of ", category=DeprecationWarning)
        return run_stack(dev_config)


#: Overrides of the example config that change what the program builds (one more run serves every such test).
ALTERNATIVE_CONFIG = {
    "autoretrain:alertEmails": '["a@example.com", "b@example.org"]',
    "autoretrain:alertPhoneNumbers": '["+14155550100"]',
    "autoretrain:driftCheckSchedule": "cron(30 1 * * ? *)",
    "autoretrain:aucAlarmFloor": "0.62",
    "autoretrain:subnetIds": '["subnet-1", "subnet-2"]',
    "autoretrain:securityGroupIds": '["sg-1"]',
    "autoretrain:assignPublicIp": "false",
    "autoretrain:runbookUrl": "https://wiki.example.com/autoretrain/runbook",
    "autoretrain:athenaBytesScannedCutoff": "50000000000",
    "autoretrain:awsSdkPandasLayerVersion": "15",
    "autoretrain:lakeSampleRows": "300000",
    "autoretrain:canaryPercent": "25",
    "autoretrain:canaryMinutes": "30",
    "autoretrain:incrementalRetrain": "true",
    "autoretrain:ingestBufferSeconds": "300",
    "autoretrain:ingestBufferMb": "128",
    "autoretrain:ingestLagMinutes": "6",
    "autoretrain:alertWindowMinutes": "15",
    "autoretrain:alertMaxWindowMinutes": "720",
}


@pytest.fixture(scope="session")
def alternative_stack(dev_config: dict[str, str]) -> Recording:
    """The program run with ALTERNATIVE_CONFIG on top of the example config."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".* has been deprecated in favor of ", category=DeprecationWarning)
        return run_stack({**dev_config, **ALTERNATIVE_CONFIG})
