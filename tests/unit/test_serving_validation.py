"""Request validation of the serving Lambda: every problem kind, and all problems listed at once."""

from __future__ import annotations

import pytest

from core.features import FeatureSpec, InputSchema, check_features
from core.records import ContractViolationError, validate_payload
from lambdas.serving.logic import MAX_INSTANCES, parse_request
from lambdas.serving.models import InvalidRequestError

SCHEMA = InputSchema(
    (
        FeatureSpec("tenure_months", "numeric", nullable=False),
        FeatureSpec("usage_hours", "numeric", nullable=True),
        FeatureSpec("plan", "categorical", nullable=False, categories=("basic", "premium")),
        FeatureSpec("payment_method", "categorical", nullable=True, categories=("card",)),
    )
)
VALID = {"tenure_months": 12, "usage_hours": 3.5, "plan": "basic", "payment_method": "card"}


def payload_document(**changes: object) -> dict[str, object]:
    """A valid payload record of VALID's features, with `changes`."""
    document: dict[str, object] = {
        "request_id": "r-1",
        "model_name": "churn",
        "model_version": "v1",
        "timestamp": "2026-11-23T10:00:00.123Z",
        "features": VALID,
        "prediction": {"score": 0.31, "label": 0},
        "latency_ms": 1.5,
    }
    return document | changes


def _problems(event: object) -> tuple[str, ...]:
    with pytest.raises(InvalidRequestError) as caught:
        parse_request(event, SCHEMA, "inv")
    return caught.value.problems


def test_valid_features_have_no_problems() -> None:
    assert check_features(SCHEMA, VALID) == []


def test_missing_feature_is_reported() -> None:
    features = {key: value for key, value in VALID.items() if key != "plan"}
    assert check_features(SCHEMA, features) == ["missing feature 'plan'"]


def test_unknown_feature_is_reported() -> None:
    assert check_features(SCHEMA, {**VALID, "colour": "red"}) == ["unknown feature 'colour'"]


def test_boolean_for_numeric_feature_is_reported() -> None:
    assert check_features(SCHEMA, {**VALID, "tenure_months": True}) == [
        "feature 'tenure_months' must be a number, got boolean True"
    ]


def test_string_for_numeric_feature_is_reported() -> None:
    assert check_features(SCHEMA, {**VALID, "tenure_months": "12"}) == [
        "feature 'tenure_months' must be a number, got string"
    ]


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), 10**400])
def test_non_finite_number_is_reported(value: float) -> None:
    problems = check_features(SCHEMA, {**VALID, "usage_hours": value})
    assert len(problems) == 1
    assert problems[0].startswith("feature 'usage_hours' is not finite")


@pytest.mark.parametrize(("value", "kind"), [(3, "number"), (False, "boolean"), (["card"], "array")])
def test_non_string_for_categorical_feature_is_reported(value: object, kind: str) -> None:
    assert check_features(SCHEMA, {**VALID, "plan": value}) == [f"feature 'plan' must be a string, got {kind}"]


def test_null_for_non_nullable_feature_is_reported() -> None:
    assert check_features(SCHEMA, {**VALID, "tenure_months": None, "plan": None}) == [
        "feature 'tenure_months' must not be null",
        "feature 'plan' must not be null",
    ]


def test_null_for_nullable_features_is_accepted() -> None:
    assert check_features(SCHEMA, {**VALID, "usage_hours": None, "payment_method": None}) == []


def test_unseen_category_is_accepted() -> None:
    assert check_features(SCHEMA, {**VALID, "plan": "enterprise"}) == []


def test_features_that_are_not_an_object_are_reported() -> None:
    assert check_features(SCHEMA, [1, 2]) == ["'features' must be an object, got array"]


def test_every_problem_of_one_instance_is_listed_together() -> None:
    features = {"tenure_months": True, "usage_hours": float("inf"), "plan": 7, "extra": 1}
    assert check_features(SCHEMA, features) == [
        "feature 'tenure_months' must be a number, got boolean True",
        "feature 'usage_hours' is not finite (inf)",
        "feature 'plan' must be a string, got number",
        "missing feature 'payment_method'",
        "unknown feature 'extra'",
    ]


def test_problems_of_several_instances_are_listed_with_their_positions() -> None:
    event = {
        "instances": [
            {"request_id": "ok", "features": VALID},
            {"request_id": "bad-1", "features": {**VALID, "tenure_months": "x"}},
            {"request_id": "bad-2", "features": {**VALID, "colour": "red"}},
        ]
    }
    assert _problems(event) == (
        "instances[1]: feature 'tenure_months' must be a number, got string",
        "instances[2]: unknown feature 'colour'",
    )


def test_single_instance_form_is_parsed() -> None:
    instances = parse_request({"request_id": "r1", "features": VALID}, SCHEMA, "inv")
    assert [(instance.request_id, dict(instance.features)) for instance in instances] == [("r1", VALID)]


def test_missing_request_ids_are_derived_from_the_invocation_id() -> None:
    instances = parse_request({"instances": [{"features": VALID}, {"features": VALID}]}, SCHEMA, "inv")
    assert [instance.request_id for instance in instances] == ["inv-0", "inv-1"]


def test_duplicate_request_ids_are_reported() -> None:
    event = {"instances": [{"request_id": "r", "features": VALID}, {"request_id": "r", "features": VALID}]}
    assert _problems(event) == ("instances[1]: duplicate request_id 'r'",)


@pytest.mark.parametrize(
    ("request_id", "problem"),
    [
        ("", "'request_id' must be a non-empty string, got str"),
        ("   ", "'request_id' must be a non-empty string, got str"),
        (7, "'request_id' must be a non-empty string, got int"),
        ("x" * 257, "'request_id' is 257 characters long; the limit is 256"),
    ],
)
def test_malformed_request_id_is_reported_as_the_etl_words_it(request_id: object, problem: str) -> None:
    assert _problems({"request_id": request_id, "features": VALID}) == (f"request: {problem}",)
    with pytest.raises(ContractViolationError) as caught:
        validate_payload(payload_document(request_id=request_id))
    assert caught.value.problems == (problem,)


def test_instances_and_single_features_together_are_refused() -> None:
    problems = _problems({"instances": [{"features": VALID}], "features": VALID})
    assert "give either 'instances' or a single 'features' object, not both" in problems


def test_empty_instances_are_refused() -> None:
    assert _problems({"instances": []}) == ("'instances' must be a non-empty array",)


def test_too_many_instances_are_refused() -> None:
    problems = _problems({"instances": [{"features": VALID}] * (MAX_INSTANCES + 1)})
    assert problems == (f"'instances' has {MAX_INSTANCES + 1} items; at most {MAX_INSTANCES} per request",)


def test_unknown_top_level_and_instance_keys_are_reported() -> None:
    problems = _problems({"instances": [{"features": VALID, "meta": 1}], "debug": True})
    assert problems == (
        "unknown top-level keys ['debug']; expected 'instances' or 'features' (+ 'request_id', 'client_id')",
        "instances[0]: unknown keys ['meta']",
    )


def test_event_without_instances_or_features_is_refused() -> None:
    assert _problems({"request_id": "r"}) == ("the request has neither 'instances' nor 'features'",)


def test_instance_without_features_is_reported() -> None:
    assert _problems({"instances": [{"request_id": "r"}]}) == ("instances[0]: missing 'features'",)


def test_event_that_is_not_an_object_is_refused() -> None:
    assert _problems(["features"]) == ("the request must be a JSON object, got list",)


def test_client_id_member_is_taken_and_validated_like_request_id() -> None:
    (instance,) = parse_request({"instances": [{"client_id": "c-7", "features": VALID}]}, SCHEMA, "inv")
    assert instance.client_id == "c-7"
    assert _problems({"instances": [{"client_id": "", "features": VALID}]}) == (
        "instances[0]: 'client_id' must be a non-empty string, got str",
    )
    assert _problems({"client_id": 7, "features": VALID}) == (
        "request: 'client_id' must be a non-empty string, got int",
    )


def test_a_null_client_id_is_no_client_id() -> None:
    (instance,) = parse_request({"client_id": None, "features": VALID}, SCHEMA, "inv")
    assert instance.client_id is None


@pytest.mark.parametrize(
    ("value", "client_id"), [("basic", "basic"), (12, "12"), (12.0, "12"), (3.5, "3.5"), (None, None)]
)
def test_the_client_id_feature_identifies_a_client_without_a_client_id(value: object, client_id: str | None) -> None:
    feature = "plan" if isinstance(value, str) else "usage_hours"
    event = {"features": {**VALID, feature: value}}
    (instance,) = parse_request(event, SCHEMA, "inv", client_id_feature=feature)
    assert instance.client_id == client_id


def test_an_explicit_client_id_wins_over_the_client_id_feature() -> None:
    (instance,) = parse_request({"client_id": "c-1", "features": VALID}, SCHEMA, "inv", client_id_feature="plan")
    assert instance.client_id == "c-1"
