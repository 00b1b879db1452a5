"""The model registry against moto's DynamoDB server: lineage round trip, lifecycle, one champion at most."""

from __future__ import annotations

import json
import uuid
from contextlib import suppress
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any

import boto3
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from autoretrain.emulator import create_table
from batch_jobs.gate import GateConfig, evaluate_gate
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
)
from core.registry import CHAMPION_POINTER_SK, Registry
from core.tables import REGISTRY_TABLE, TableSpec

pytestmark = pytest.mark.integration

MODEL = "churn"
CREATED = datetime(2026, 11, 20, 3, 0, 0, 123456, tzinfo=UTC)
SHA = "ab" * 32


@pytest.fixture
def registry(aws_session: boto3.Session) -> Registry:
    """A registry table of its own, created from the stack's definition (cheaper than provisioning everything)."""
    table = create_table(aws_session, REGISTRY_TABLE, f"t{uuid.uuid4().hex[:12]}-registry")
    return Registry(aws_session.client("dynamodb"), table)


def _candidate(version: str, model: str = MODEL, **overrides: Any) -> ModelVersionRecord:
    fields: dict[str, Any] = {
        "model_name": model,
        "version": version,
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


def _releasable(registry: Registry, version: str, model: str = MODEL) -> None:
    """Register a version that passed the gate and has its artefact, then release it."""
    registry.register_candidate(_candidate(version, model))
    registry.record_gate_decision(model, version, passed=True, reasons=["passed"])
    registry.record_artifact(model, version, uri=f"s3://models/models/{model}/{version}/model.pkl", sha256=SHA)
    registry.transition(model, version, ModelStatus.RELEASED, "gate passed")


def _statuses(record: ModelVersionRecord) -> list[ModelStatus]:
    return [change.status for change in record.history]


def test_register_and_get_round_trip_every_lineage_field(registry: Registry) -> None:
    record = _candidate(
        "20261120T030000Z-ab12cd",
        artifact_uri="s3://models/models/churn/20261120T030000Z-ab12cd/model.pkl",
        s3_version_id="3HL4kqtJlcpXroDTDmJ",
        sha256=SHA,
        challenger_metrics={"auc": 0.8123456789012345, "log_loss": 0.41},
        champion_metrics={"auc": 0.80, "log_loss": 0.43},
        gate_passed=True,
        gate_reasons=("passed all 8 checks",),
        gate_details={"difference": {"lower": -0.0042, "upper": 0.0191}, "checks": [{"name": "finite"}]},
        evidence={"window": "expanding", "backtest": [{"days": 30, "auc": 0.79}, {"days": 60, "auc": 0.81}]},
    )

    registry.register_candidate(record, reason="trained after drift")
    stored = registry.get(MODEL, record.version)

    expected_history = (StatusChange(ModelStatus.CANDIDATE, CREATED, "trained after drift"),)
    assert stored == replace(record, history=expected_history)


def test_registering_the_same_version_twice_fails(registry: Registry) -> None:
    registry.register_candidate(_candidate("v1"))

    with pytest.raises(VersionExistsError, match="churn v1 is already registered"):
        registry.register_candidate(_candidate("v1", train_rows=1))

    assert registry.get(MODEL, "v1").train_rows == 48_210


def test_getting_an_unknown_version_fails(registry: Registry) -> None:
    with pytest.raises(VersionNotFoundError):
        registry.get(MODEL, "v404")


def test_legal_path_from_candidate_to_retired_is_recorded_in_the_history(registry: Registry) -> None:
    _releasable(registry, "v1")
    registry.transition(MODEL, "v1", ModelStatus.CHAMPION, "deployed")
    retired = registry.transition(MODEL, "v1", ModelStatus.RETIRED, "decommissioned")

    assert retired.status is ModelStatus.RETIRED
    assert _statuses(retired) == ["candidate", "released", "champion", "retired"]
    assert [change.reason for change in retired.history][1:] == ["gate passed", "deployed", "decommissioned"]
    assert registry.champion(MODEL) is None


def test_rejected_candidate_keeps_its_gate_reasons(registry: Registry) -> None:
    registry.register_candidate(_candidate("v1"))
    registry.record_gate_decision(MODEL, "v1", passed=False, reasons=["non_inferiority: auc -0.05"])
    rejected = registry.transition(MODEL, "v1", ModelStatus.REJECTED, "gate failed")

    assert rejected.status is ModelStatus.REJECTED
    assert rejected.gate_passed is False
    assert rejected.gate_reasons == ("non_inferiority: auc -0.05",)


def test_promoting_a_rejected_version_fails_before_any_write(registry: Registry) -> None:
    registry.register_candidate(_candidate("v1"))
    registry.transition(MODEL, "v1", ModelStatus.REJECTED, "gate failed")

    with pytest.raises(IllegalTransitionError, match="cannot move a rejected version to champion"):
        registry.transition(MODEL, "v1", ModelStatus.CHAMPION, "force")

    assert _statuses(registry.get(MODEL, "v1")) == ["candidate", "rejected"]
    assert registry.champion(MODEL) is None


def test_illegal_transition_with_a_stated_status_is_refused_without_reading(registry: Registry) -> None:
    with pytest.raises(IllegalTransitionError, match="cannot move a candidate version to champion"):
        registry.transition(MODEL, "v-never-registered", ModelStatus.CHAMPION, "x", expected_from=ModelStatus.CANDIDATE)


def test_release_without_a_passing_gate_is_blocked(registry: Registry) -> None:
    registry.register_candidate(_candidate("v1", sha256=SHA, artifact_uri="s3://m/v1/model.pkl"))

    with pytest.raises(ReleaseBlockedError, match="gate passed=None"):
        registry.transition(MODEL, "v1", ModelStatus.RELEASED, "skip the gate")

    assert registry.get(MODEL, "v1").status is ModelStatus.CANDIDATE


def test_release_without_an_artefact_is_blocked(registry: Registry) -> None:
    registry.register_candidate(_candidate("v1"))
    registry.record_gate_decision(MODEL, "v1", passed=True, reasons=["passed"])

    with pytest.raises(ReleaseBlockedError, match="artifact=missing"):
        registry.transition(MODEL, "v1", ModelStatus.RELEASED, "no artefact")


def test_promoting_a_new_champion_retires_the_old_one(registry: Registry) -> None:
    _releasable(registry, "v1")
    registry.promote(MODEL, "v1", "first deploy")
    _releasable(registry, "v2")

    registry.transition(MODEL, "v2", ModelStatus.CHAMPION, "deployed")

    old, new = registry.get(MODEL, "v1"), registry.get(MODEL, "v2")
    assert (old.status, new.status) == (ModelStatus.RETIRED, ModelStatus.CHAMPION)
    assert old.history[-1].reason == "replaced by v2: deployed"
    champion = registry.champion(MODEL)
    assert champion is not None
    assert champion.version == "v2"


def test_promotion_against_a_stale_champion_writes_nothing(registry: Registry) -> None:
    _releasable(registry, "v1")
    registry.promote(MODEL, "v1", "first deploy")
    _releasable(registry, "v2")
    _releasable(registry, "v3")
    registry.promote(MODEL, "v2", "deployed by worker A")

    with pytest.raises(ConflictError, match="champion is no longer v1"):
        registry.promote(MODEL, "v3", "deployed by worker B", replaces="v1")

    statuses = {record.version: record.status for record in registry.list_versions(MODEL)}
    assert statuses == {"v1": "retired", "v2": "champion", "v3": "released"}


def test_concurrent_conflicting_transition_raises_conflict(registry: Registry) -> None:
    _releasable(registry, "v1")
    registry.transition(MODEL, "v1", ModelStatus.CHAMPION, "deploy succeeded", expected_from=ModelStatus.RELEASED)

    with pytest.raises(ConflictError, match="churn v1 is champion, not released"):
        registry.transition(MODEL, "v1", ModelStatus.RETIRED, "deploy failed", expected_from=ModelStatus.RELEASED)

    assert registry.get(MODEL, "v1").status is ModelStatus.CHAMPION


def test_repeating_a_transition_is_a_no_op(registry: Registry) -> None:
    _releasable(registry, "v1")

    again = registry.transition(MODEL, "v1", ModelStatus.RELEASED, "gate passed", expected_from=ModelStatus.CANDIDATE)

    assert _statuses(again) == ["candidate", "released"]


def test_rollback_re_releases_a_retired_version_and_makes_it_champion_again(registry: Registry) -> None:
    _releasable(registry, "v1")
    registry.promote(MODEL, "v1", "deployed")
    _releasable(registry, "v2")
    registry.promote(MODEL, "v2", "deployed")

    registry.transition(MODEL, "v1", ModelStatus.RELEASED, "rollback requested")
    registry.promote(MODEL, "v1", "rolled back")

    champion = registry.champion(MODEL)
    assert champion is not None
    assert champion.version == "v1"
    assert _statuses(champion) == ["candidate", "released", "champion", "retired", "released", "champion"]
    assert registry.get(MODEL, "v2").status is ModelStatus.RETIRED


def test_champion_is_none_before_any_promotion(registry: Registry) -> None:
    _releasable(registry, "v1")

    assert registry.champion(MODEL) is None


def test_champion_is_found_through_the_by_status_index(aws_session: boto3.Session) -> None:
    no_index = TableSpec("registry", REGISTRY_TABLE.keys, {"pk": "S", "sk": "S"})
    table = create_table(aws_session, no_index, f"t{uuid.uuid4().hex[:12]}-no-index")
    registry = Registry(aws_session.client("dynamodb"), table)
    registry.register_candidate(_candidate("v1"))

    with pytest.raises(RegistryError, match="Invalid index: by_status"):
        registry.champion(MODEL)


def test_champions_of_other_models_are_kept_apart(registry: Registry) -> None:
    _releasable(registry, "v1")
    _releasable(registry, "v1", model="fraud")
    registry.promote(MODEL, "v1", "deployed")
    registry.promote("fraud", "v1", "deployed")

    churn, fraud = registry.champion(MODEL), registry.champion("fraud")
    assert churn is not None
    assert fraud is not None
    assert (churn.model_name, fraud.model_name) == (MODEL, "fraud")


def test_list_versions_returns_every_version_in_order_without_the_pointer(registry: Registry) -> None:
    for version in ("v3", "v1", "v2"):
        _releasable(registry, version)
    registry.promote(MODEL, "v2", "deployed")

    versions = [record.version for record in registry.list_versions(MODEL)]

    assert versions == ["v1", "v2", "v3"]
    assert CHAMPION_POINTER_SK not in versions


def test_metrics_and_gate_decision_are_recorded(registry: Registry) -> None:
    holdout = np.random.default_rng(0)
    scores = holdout.random(600)
    labels = (holdout.random(600) < scores).astype(int)
    schema = [("x", "numeric")]
    decision = evaluate_gate(
        GateConfig(n_bootstrap=200), labels, scores[::-1], scores, challenger_schema=schema, serving_schema=schema
    )
    registry.register_candidate(_candidate("v1"))

    registry.record_metrics(
        MODEL,
        "v1",
        challenger=decision.challenger.as_mapping(),
        champion=decision.champion.as_mapping() if decision.champion else {},
    )
    stored = registry.record_gate_decision(
        MODEL, "v1", passed=decision.passed, reasons=decision.reasons, details=decision.to_json()
    )

    assert stored.challenger_metrics["auc"] == decision.challenger.auc
    assert stored.gate_passed is decision.passed
    assert stored.gate_reasons == decision.reasons
    assert stored.gate_details == json.loads(json.dumps(decision.to_json()))


def test_gate_decision_cannot_be_reversed(registry: Registry) -> None:
    registry.register_candidate(_candidate("v1"))
    registry.record_gate_decision(MODEL, "v1", passed=False, reasons=["worse"])

    with pytest.raises(ConflictError, match="already holds a different value"):
        registry.record_gate_decision(MODEL, "v1", passed=True, reasons=["better now"])

    assert registry.get(MODEL, "v1").gate_reasons == ("worse",)


def test_gate_decision_of_a_released_version_is_refused(registry: Registry) -> None:
    _releasable(registry, "v1")

    with pytest.raises(ConflictError, match="only a candidate can be updated"):
        registry.record_gate_decision(MODEL, "v1", passed=True, reasons=["again"])


def test_non_finite_metrics_are_refused_and_nothing_is_written(registry: Registry) -> None:
    registry.register_candidate(_candidate("v1"))

    with pytest.raises(ValueError, match="challenger metrics are not finite: auc"):
        registry.record_metrics(MODEL, "v1", challenger={"auc": float("nan")}, champion={})

    assert registry.get(MODEL, "v1").challenger_metrics == {}


_TEXT = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=8)
_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.floats(min_value=-1e100, max_value=1e100).filter(lambda value: value == 0 or abs(value) > 1e-100)
    | _TEXT,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(_TEXT.filter(bool), children, max_size=3),
    max_leaves=12,
)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(evidence=st.dictionaries(_TEXT.filter(bool), _JSON, max_size=4))
def test_any_json_evidence_round_trips(registry: Registry, evidence: dict[str, Any]) -> None:
    version = f"v{uuid.uuid4().hex[:10]}"
    registry.register_candidate(_candidate(version, evidence=evidence))

    assert registry.get(MODEL, version).evidence == evidence


def test_evidence_that_dynamodb_cannot_hold_is_refused(registry: Registry) -> None:
    with pytest.raises(ValueError, match="cannot store non-finite number"):
        registry.register_candidate(_candidate("v1", evidence={"score": float("inf")}))

    with pytest.raises(ValueError, match="beyond ±2\\*\\*53"):
        registry.register_candidate(_candidate("v1", evidence={"rows": 2**60}))

    with pytest.raises(VersionNotFoundError):
        registry.get(MODEL, "v1")


_STEPS = st.lists(
    st.tuples(
        st.integers(0, 2),
        st.sampled_from(list(ModelStatus)),
        st.one_of(st.none(), st.sampled_from(list(ModelStatus))),
    ),
    min_size=1,
    max_size=10,
)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=_STEPS)
def test_any_sequence_of_transitions_keeps_at_most_one_champion(
    registry: Registry, steps: list[tuple[int, ModelStatus, ModelStatus | None]]
) -> None:
    model = f"m{uuid.uuid4().hex[:10]}"
    versions = [f"v{index}" for index in range(3)]
    for version in versions:
        registry.register_candidate(_candidate(version, model))
        registry.record_gate_decision(model, version, passed=True, reasons=["passed"])
        registry.record_artifact(model, version, uri=f"s3://m/{version}/model.pkl", sha256=SHA)

    for index, target, expected_from in steps:
        with suppress(IllegalTransitionError, ConflictError):
            registry.transition(model, versions[index], target, "step", expected_from=expected_from)
        records = registry.list_versions(model)
        champions = [record.version for record in records if record.status is ModelStatus.CHAMPION]
        assert len(champions) <= 1
        found = registry.champion(model)
        assert (found.version if found else None) == (champions[0] if champions else None)
        for record in records:
            assert all(after.status in ALLOWED_TRANSITIONS[before.status] for before, after in pairwise(record.history))
