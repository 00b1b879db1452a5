"""The model-version lifecycle alone (no DynamoDB): allowed moves, record validation, a new candidate's history."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import product
from typing import Any

import pytest

from core.model_lifecycle import (
    ALLOWED_TRANSITIONS,
    ConflictError,
    IllegalTransitionError,
    ModelStatus,
    ModelVersionRecord,
    RegistryError,
    ReleaseBlockedError,
    StatusChange,
    Trigger,
    VersionExistsError,
    VersionNotFoundError,
    check_transition,
    finite_metrics,
    new_candidate,
    require_aware,
    validate_sha256,
    validate_version,
)

CREATED = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)
SHA = "ab" * 32

#: The lifecycle as documented, written out independently of `ALLOWED_TRANSITIONS`.
LEGAL = {
    ("candidate", "released"),
    ("candidate", "rejected"),
    ("candidate", "not_needed"),
    ("released", "champion"),
    ("released", "retired"),
    ("champion", "retired"),
    ("retired", "released"),
}
ILLEGAL = sorted(set(product(ModelStatus, ModelStatus)) - LEGAL)


def _record(**overrides: Any) -> ModelVersionRecord:
    fields: dict[str, Any] = {
        "model_name": "churn",
        "version": "20261120T030000Z-ab12cd",
        "trigger": Trigger.DRIFT,
        "created_at": CREATED,
        "training_start": CREATED - timedelta(days=60),
        "training_end": CREATED - timedelta(days=2),
        "train_rows": 48_210,
        "holdout_rows": 5_022,
        "data_fingerprint": "sha256:" + "0f" * 32,
        "code_version": "git:3f2a9c1",
    }
    fields.update(overrides)
    return ModelVersionRecord(**fields)


def test_stored_status_and_trigger_values_are_stable() -> None:
    assert [status.value for status in ModelStatus] == [
        "candidate",
        "rejected",
        "not_needed",
        "released",
        "champion",
        "retired",
    ]
    assert [trigger.value for trigger in Trigger] == [
        "schedule",
        "drift",
        "performance",
        "on_demand",
        "initial",
        "rollback",
    ]


def test_allowed_transitions_are_exactly_the_documented_lifecycle() -> None:
    table = {(current, target) for current, targets in ALLOWED_TRANSITIONS.items() for target in targets}
    assert table == LEGAL
    assert set(ALLOWED_TRANSITIONS) == set(ModelStatus)


@pytest.mark.parametrize(("current", "target"), sorted(LEGAL))
def test_legal_transition_is_accepted(current: str, target: str) -> None:
    check_transition(ModelStatus(current), ModelStatus(target))


@pytest.mark.parametrize(("current", "target"), ILLEGAL)
def test_illegal_transition_is_refused(current: ModelStatus, target: ModelStatus) -> None:
    with pytest.raises(IllegalTransitionError, match=f"^cannot move a {current} version to {target} "):
        check_transition(current, target)


def test_illegal_transition_names_the_allowed_targets_in_order() -> None:
    with pytest.raises(IllegalTransitionError, match=r"\(allowed: not_needed, rejected, released\)$"):
        check_transition(ModelStatus.CANDIDATE, ModelStatus.CHAMPION)


def test_a_rejected_version_can_move_nowhere() -> None:
    with pytest.raises(IllegalTransitionError, match=r"\(allowed: nothing\)$"):
        check_transition(ModelStatus.REJECTED, ModelStatus.RELEASED)


@pytest.mark.parametrize(
    "error",
    [VersionExistsError, VersionNotFoundError, IllegalTransitionError, ConflictError, ReleaseBlockedError],
)
def test_every_registry_error_is_a_registry_error(error: type[Exception]) -> None:
    assert issubclass(error, RegistryError)
    assert issubclass(error, RuntimeError)


@pytest.mark.parametrize("version", ["v1", "a", "20261120T030000Z-ab12cd", "1.2.3+build:7_x", "v" * 128])
def test_valid_versions_are_returned_unchanged(version: str) -> None:
    assert validate_version(version) == version


@pytest.mark.parametrize("version", ["", "#champion", "-v1", ".v1", "v 1", "v/1", "v1\t", "v" * 129])
def test_invalid_versions_are_refused(version: str) -> None:
    with pytest.raises(ValueError, match=r"model version .* must match"):
        validate_version(version)


def test_a_lowercase_hex_sha256_is_accepted() -> None:
    assert validate_sha256(SHA) == SHA


@pytest.mark.parametrize("sha256", ["", "AB" * 32, "ab" * 31 + "a", "ab" * 32 + "a", "zz" * 32])
def test_a_malformed_sha256_is_refused(sha256: str) -> None:
    with pytest.raises(ValueError, match="sha256 must be 64 lowercase hexadecimal characters"):
        validate_sha256(sha256)


def test_a_naive_datetime_is_refused_by_name() -> None:
    require_aware(CREATED, "created_at")
    with pytest.raises(ValueError, match=r"^created_at must be timezone-aware$"):
        require_aware(CREATED.replace(tzinfo=None), "created_at")


def test_metrics_that_could_not_be_computed_are_left_out() -> None:
    assert finite_metrics({"auc": 0.81, "brier": None, "rows": 3}, "challenger") == {"auc": 0.81, "rows": 3.0}


def test_non_finite_metrics_are_refused_by_name_in_order() -> None:
    metrics = {"log_loss": float("inf"), "auc": float("nan"), "brier": 0.1}
    with pytest.raises(ValueError, match=r"^champion metrics are not finite: auc, log_loss$"):
        finite_metrics(metrics, "champion")


def test_a_new_record_is_a_candidate_without_history() -> None:
    record = _record()
    assert record.status is ModelStatus.CANDIDATE
    assert record.history == ()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"model_name": "churn/eu"}, "model name"),
        ({"version": "#champion"}, "model version"),
        ({"created_at": CREATED.replace(tzinfo=None)}, "created_at must be timezone-aware"),
        ({"training_start": datetime(2026, 9, 1)}, "training_start must be timezone-aware"),
        ({"training_end": datetime(2026, 11, 1)}, "training_end must be timezone-aware"),
        ({"training_start": CREATED, "training_end": CREATED - timedelta(seconds=1)}, "training_start is after"),
        ({"train_rows": -1}, "row counts must be non-negative"),
        ({"holdout_rows": -1}, "row counts must be non-negative"),
        ({"sha256": SHA.upper()}, "sha256 must be 64 lowercase"),
    ],
)
def test_an_invalid_record_is_refused(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _record(**overrides)


def test_a_record_may_end_training_when_it_starts() -> None:
    assert _record(training_start=CREATED, training_end=CREATED).training_start == CREATED


def test_a_new_candidate_gets_its_first_history_entry_at_creation() -> None:
    registered = new_candidate(_record(), "trained after drift")

    assert registered.history == (StatusChange(ModelStatus.CANDIDATE, CREATED, "trained after drift"),)
    assert replace(registered, history=()) == _record()


def test_a_new_candidate_keeps_a_history_it_already_has() -> None:
    history = (StatusChange(ModelStatus.CANDIDATE, CREATED - timedelta(hours=1), "imported"),)

    assert new_candidate(_record(history=history), "registered").history == history


@pytest.mark.parametrize("status", [status for status in ModelStatus if status is not ModelStatus.CANDIDATE])
def test_only_a_candidate_can_be_registered_as_new(status: ModelStatus) -> None:
    with pytest.raises(ValueError, match=f"a new version must be a candidate, not {status}"):
        new_candidate(_record(status=status), "registered")


def test_the_lifecycle_imports_no_aws_sdk() -> None:
    probe = "import json, sys, core.model_lifecycle; print(json.dumps(sorted(sys.modules)))"
    completed = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    loaded = {name.split(".")[0] for name in json.loads(completed.stdout)}
    assert not loaded & {"boto3", "botocore", "numpy", "pandas"}


@pytest.mark.parametrize(("check", "value"), [(validate_version, "v1\n"), (validate_sha256, "a" * 64 + "\n")])
def test_a_trailing_line_break_is_refused(check: Callable[[str], str], value: str) -> None:
    with pytest.raises(ValueError, match="must"):
        check(value)
