"""Serving's live evaluation with real trained artefacts: the sticky control group answered with the heuristic, and
a shadow challenger logged beside the champion without ever failing a request."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from autoretrain.synthetic import TARGET, generate_churn
from batch_jobs.model_spec import ModelSpec, build_model, feature_frame, infer_input_schema
from core.artifacts import (
    FeatureThresholdHeuristic,
    LoadedModel,
    base_rate_heuristic,
    load_verified_model,
    write_artifact,
)
from core.assignment import assign_arm
from core.records import ARM_CONTROL, ARM_MODEL, parse_payload
from lambdas.serving.logic import check_client_id_feature, check_shadow, encode_jsonl, serve
from lambdas.serving.models import Experiment, ModelMismatchError, ServeOutcome, prediction_response

NOW = datetime(2026, 11, 23, 10, 0, 0, 123000, tzinfo=UTC)
SHARE = 0.3
BASE_RATE = 0.2


def _train(
    directory: Path, data: pd.DataFrame, *, created_at: datetime = NOW, drop: tuple[str, ...] = (), **kwargs: Any
) -> LoadedModel:
    frame = data.drop(columns=list(drop))
    schema = infer_input_schema(frame, all_nullable=True)
    model = build_model(schema, ModelSpec(decision_threshold=0.3)).fit(feature_frame(frame, schema), frame[TARGET])
    write_artifact(
        directory,
        model,
        model_name=kwargs.pop("model_name", "churn"),
        input_schema=schema,
        decision_threshold=0.3,
        created_at=created_at,
        heuristic=kwargs.pop("heuristic", base_rate_heuristic(BASE_RATE)),
    )
    return load_verified_model(directory)


@pytest.fixture(scope="module")
def data() -> pd.DataFrame:
    return generate_churn(2_000, seed=21)


@pytest.fixture(scope="module")
def champion(data: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    return _train(tmp_path_factory.mktemp("champion"), data)


@pytest.fixture(scope="module")
def challenger(tmp_path_factory: pytest.TempPathFactory) -> LoadedModel:
    later = NOW + timedelta(days=7)
    return _train(tmp_path_factory.mktemp("challenger"), generate_churn(2_000, seed=22), created_at=later)


def _instances(frame: pd.DataFrame, *, clients: bool = True) -> list[dict[str, Any]]:
    rows = frame.drop(columns=[TARGET]).to_dict("records")
    return [
        {
            "request_id": f"r{index}",
            **({"client_id": f"client-{index}"} if clients else {}),
            "features": {k: None if pd.isna(v) else v for k, v in row.items()},
        }
        for index, row in enumerate(rows)
    ]


def _serve(
    event: object,
    model: LoadedModel,
    *,
    now: datetime = NOW,
    share: float = SHARE,
    shadow: LoadedModel | None = None,
    feature: str = "",
) -> ServeOutcome:
    return serve(
        event,
        model,
        model_name="churn",
        invocation_id="inv",
        now=now,
        experiment=Experiment(share, "churn", feature),
        shadow=shadow,
    )


def _logged(outcome: ServeOutcome) -> list[dict[str, Any]]:
    lines = encode_jsonl(outcome.records).decode().splitlines()
    for line in lines:
        parse_payload(json.loads(line))  # the record contract the ETL loads
    return [json.loads(line) for line in lines]


def test_control_clients_are_answered_with_the_heuristic_and_logged_with_the_champions_prediction(
    data: pd.DataFrame, champion: LoadedModel
) -> None:
    instances = _instances(data.head(200))
    outcome = _serve({"instances": instances}, champion)
    scores = champion.estimator.predict_proba(feature_frame(data.head(200), champion.manifest.input_schema))[:, 1]
    response = prediction_response(outcome)["predictions"]
    records = _logged(outcome)
    arms = [assign_arm(instance["client_id"], share=SHARE, salt="churn") for instance in instances]
    assert {ARM_CONTROL, ARM_MODEL} == set(arms)
    assert [answer["arm"] for answer in response] == [record["arm"] for record in records] == arms
    assert [record["client_id"] for record in records] == [instance["client_id"] for instance in instances]
    for arm, answer, record, score in zip(arms, response, records, scores, strict=True):
        assert record["prediction"]["score"] == pytest.approx(score, rel=1e-12)
        if arm == ARM_CONTROL:
            assert record["heuristic"] == {"score": BASE_RATE, "label": 0}
            assert (answer["score"], answer["label"]) == (BASE_RATE, 0)
        else:
            assert "heuristic" not in record
            assert (answer["score"], answer["label"]) == (record["prediction"]["score"], record["prediction"]["label"])


def test_a_client_keeps_its_arm_across_requests_days_and_releases(
    data: pd.DataFrame, champion: LoadedModel, challenger: LoadedModel
) -> None:
    assert challenger.manifest.model_version != champion.manifest.model_version
    instances = _instances(data.head(100))
    served = [
        _serve({"instances": instances}, champion),
        _serve({"instances": list(reversed(instances))}, champion),
        _serve({"instances": instances}, champion, now=NOW + timedelta(days=30)),
        _serve({"instances": instances}, challenger, now=NOW + timedelta(days=60)),
    ]
    arms = [{p.request_id: p.arm for p in outcome.predictions} for outcome in served]
    assert all(arm == arms[0] for arm in arms[1:])
    assert set(arms[0].values()) == {ARM_CONTROL, ARM_MODEL}


def test_instances_without_a_client_id_have_no_arm_and_get_the_model(data: pd.DataFrame, champion: LoadedModel) -> None:
    outcome = _serve({"instances": _instances(data.head(20), clients=False)}, champion)
    assert {p.arm for p in outcome.predictions} == {None}
    assert all(not {"arm", "heuristic", "client_id"} & set(record) for record in _logged(outcome))
    assert all("arm" not in answer for answer in prediction_response(outcome)["predictions"])


def test_share_zero_runs_no_experiment(data: pd.DataFrame, champion: LoadedModel) -> None:
    outcome = _serve({"instances": _instances(data.head(20))}, champion, share=0.0)
    assert {record.arm for record in outcome.records} == {None}


def test_the_client_id_feature_assigns_clients_that_send_no_client_id(
    data: pd.DataFrame, champion: LoadedModel
) -> None:
    instances = _instances(data.head(200), clients=False)
    outcome = _serve({"instances": instances}, champion, feature="tenure_months")
    expected = [
        assign_arm(str(int(instance["features"]["tenure_months"])), share=SHARE, salt="churn") for instance in instances
    ]
    assert [p.arm for p in outcome.predictions] == expected


def test_a_client_id_feature_value_no_record_could_carry_leaves_the_client_unknown(
    data: pd.DataFrame, champion: LoadedModel
) -> None:
    instances = _instances(data.head(3), clients=False)
    instances[0]["features"]["contract"] = "   "
    instances[1]["features"]["contract"] = "x" * 300
    outcome = _serve({"instances": instances}, champion, feature="contract")
    logged = _logged(outcome)  # every record is one the ETL loads
    assert [p.arm for p in outcome.predictions][:2] == [None, None]
    assert outcome.predictions[2].arm is not None
    assert all("client_id" not in record for record in logged[:2])


def test_a_feature_threshold_heuristic_targets_its_control_clients(data: pd.DataFrame, tmp_path: Path) -> None:
    model = _train(tmp_path, data, heuristic=FeatureThresholdHeuristic("tenure_months", 12.0, 0.6, 0.1))
    instances = _instances(data.head(300))
    outcome = _serve({"instances": instances}, model)
    control = [
        (prediction, instance["features"]["tenure_months"])
        for prediction, instance in zip(outcome.predictions, instances, strict=True)
        if prediction.arm == ARM_CONTROL
    ]
    assert control
    for prediction, tenure in control:
        targeted = tenure is not None and tenure < 12.0
        assert (prediction.score, prediction.label) == ((0.6, 1) if targeted else (0.1, 0))


def test_a_client_id_feature_the_schema_lacks_is_refused(champion: LoadedModel) -> None:
    check_client_id_feature(champion.manifest.input_schema, "tenure_months")
    with pytest.raises(ModelMismatchError, match="'customer' is not a feature"):
        check_client_id_feature(champion.manifest.input_schema, "customer")


def test_the_shadow_scores_every_request_and_is_logged_never_returned(
    data: pd.DataFrame, champion: LoadedModel, challenger: LoadedModel
) -> None:
    rows = data.head(50)
    alone = _serve({"instances": _instances(rows)}, champion)
    outcome = _serve({"instances": _instances(rows)}, champion, shadow=challenger)
    assert prediction_response(outcome) == prediction_response(alone)
    expected = challenger.estimator.predict_proba(feature_frame(rows, challenger.manifest.input_schema))[:, 1]
    shadows = [record["shadow"] for record in _logged(outcome)]
    assert {shadow["model_version"] for shadow in shadows} == {challenger.manifest.model_version}
    np.testing.assert_allclose([shadow["score"] for shadow in shadows], expected, rtol=1e-12)
    assert all(shadow["label"] == int(shadow["score"] >= 0.3) for shadow in shadows)
    assert len({shadow["latency_ms"] for shadow in shadows}) == 1
    assert shadows[0]["latency_ms"] >= 0.0
    assert outcome.shadow_error is None


class Exploding:
    """An estimator whose scoring raises."""

    classes_ = np.array([0, 1])

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray[Any, np.dtype[np.float64]]:
        raise MemoryError("the shadow ran out of memory")


class NotFinite:
    """An estimator that answers NaN."""

    classes_ = np.array([0, 1])

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray[Any, np.dtype[np.float64]]:
        return np.full((len(frame), 2), np.nan)


@pytest.mark.parametrize(("estimator", "error"), [(Exploding(), "MemoryError"), (NotFinite(), "ModelOutputError")])
def test_a_failing_shadow_leaves_no_shadow_member_and_fails_nothing(
    data: pd.DataFrame, champion: LoadedModel, challenger: LoadedModel, estimator: object, error: str
) -> None:
    broken = LoadedModel(estimator, challenger.manifest)
    rows = _instances(data.head(10))
    outcome = _serve({"instances": rows}, champion, shadow=broken)
    assert outcome.shadow_error is not None
    assert outcome.shadow_error.startswith(error)
    assert prediction_response(outcome) == prediction_response(_serve({"instances": rows}, champion))
    assert all("shadow" not in record for record in _logged(outcome))


def test_a_shadow_of_another_schema_or_model_is_refused(
    data: pd.DataFrame, champion: LoadedModel, challenger: LoadedModel, tmp_path: Path
) -> None:
    check_shadow(champion, challenger)
    narrower = _train(tmp_path / "narrow", data, drop=("region",))
    with pytest.raises(ModelMismatchError, match="another input schema"):
        check_shadow(champion, narrower)
    other = _train(tmp_path / "other", data, model_name="upsell")
    with pytest.raises(ModelMismatchError, match="same model"):
        check_shadow(champion, other)
