"""Serving: repository, bootstrap image, container-image function and the `live` alias the pipeline moves."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import pytest

from core.settings import SHADOW_MODEL_DIR, ServingSettings
from infra.images import DockerfileSourceError, content_tag, copied_sources, keep_last_images_policy
from infra.mocks import Recording, run_stack
from infra.serving import lambda_image_uri
from tests.infra.grants import role_grants

FUNCTION = "aws:lambda/function:Function"
STREAM = "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream"
SERVING_FUNCTION = "autoretrain-serving-function"
REPOSITORY = "aws:ecr/repository:Repository"
SERVING_REPOSITORY = "autoretrain-serving-repository"
IMAGE = "docker-build:index:Image"
BOOTSTRAP_IMAGE = "autoretrain-serving-bootstrap-image"
LIVE_EVALUATION_CONFIG = {
    "autoretrain:controlShare": "0.05",
    "autoretrain:clientIdFeature": "customer_id",
    "autoretrain:shadowEnabled": "true",
}
REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = "FROM scratch\nARG SRC=app\nCOPY ${SRC}/ /app/\nCOPY --from=build /x /y\nCOPY extra.txt /app/\n"


@pytest.fixture
def context(tmp_path: Path) -> Path:
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "main.py").write_text("print('v1')\n")
    (tmp_path / "extra.txt").write_text("x\n")
    (tmp_path / "unrelated.txt").write_text("y\n")
    (tmp_path / "Dockerfile").write_text(DOCKERFILE)
    return tmp_path


def test_serving_function_ignores_the_image_the_pipeline_deploys(stack: Recording) -> None:
    assert stack.find(FUNCTION, SERVING_FUNCTION).ignore_changes == ("imageUri",)


def test_live_alias_ignores_the_version_the_pipeline_moves(stack: Recording) -> None:
    alias = stack.find("aws:lambda/alias:Alias", "autoretrain-serving-alias")
    assert alias.inputs["name"] == "live"
    assert alias.ignore_changes == ("functionVersion",)


def test_alias_starts_on_the_published_version(stack: Recording) -> None:
    function = stack.find(FUNCTION, SERVING_FUNCTION)
    alias = stack.find("aws:lambda/alias:Alias", "autoretrain-serving-alias")
    assert function.inputs["publish"] is True
    assert (alias.inputs["functionName"], alias.inputs["functionVersion"]) == (
        function.outputs["name"],
        function.outputs["version"],
    )


def test_serving_function_runs_the_bootstrap_image_by_digest(stack: Recording) -> None:
    function = stack.find(FUNCTION, SERVING_FUNCTION).inputs
    repository = stack.find(REPOSITORY, SERVING_REPOSITORY).outputs["repositoryUrl"]
    image = stack.find(IMAGE, BOOTSTRAP_IMAGE)
    assert function["packageType"] == "Image"
    assert function["architectures"] == ["x86_64"]
    assert function["imageUri"] == f"{repository}@{image.outputs['digest']}"


def test_serving_environment_names_payload_stream_and_model(stack: Recording, dev_config: dict[str, str]) -> None:
    stream = stack.find(STREAM, "autoretrain-ingest-stream").outputs["name"]
    variables = stack.find(FUNCTION, SERVING_FUNCTION).inputs["environment"]["variables"]
    assert variables == {
        "AUTORETRAIN_PAYLOAD_STREAM": stream,
        "AUTORETRAIN_MODEL_NAME": dev_config["autoretrain:modelName"],
        "AUTORETRAIN_CONTROL_SHARE": "0.0",
    }
    settings = ServingSettings.from_env(variables)
    assert (settings.payload_stream, settings.model_name) == (stream, "churn")
    assert (settings.control_share, settings.client_id_feature, settings.shadow_dir) == (0.0, "", "")


@pytest.fixture(scope="module")
def evaluating_stack(dev_config: dict[str, str]) -> Recording:
    """The program with a control group, a client-id feature and shadowing on."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".* has been deprecated in favor of ", category=DeprecationWarning)
        return run_stack({**dev_config, **LIVE_EVALUATION_CONFIG})


def test_serving_environment_carries_the_control_group_and_the_shadow(evaluating_stack: Recording) -> None:
    variables = evaluating_stack.find(FUNCTION, SERVING_FUNCTION).inputs["environment"]["variables"]
    assert {name: value for name, value in variables.items() if name not in {"AUTORETRAIN_PAYLOAD_STREAM"}} == {
        "AUTORETRAIN_MODEL_NAME": "churn",
        "AUTORETRAIN_CONTROL_SHARE": "0.05",
        "AUTORETRAIN_CLIENT_ID_FEATURE": "customer_id",
        "AUTORETRAIN_SHADOW_DIR": SHADOW_MODEL_DIR,
    }
    settings = ServingSettings.from_env(variables)
    assert (settings.control_share, settings.client_id_feature, settings.shadow_dir) == (
        0.05,
        "customer_id",
        "/opt/shadow",
    )


def test_the_shadow_directory_is_where_the_image_copies_the_shadow_model() -> None:
    dockerfile = (REPO_ROOT / "lambdas/serving/Dockerfile").read_text()
    assert f"COPY ${{SHADOW_DIR}}/ {SHADOW_MODEL_DIR}/" in dockerfile


def test_serving_may_only_send_to_its_stream_and_log(stack: Recording) -> None:
    stream = stack.find(STREAM, "autoretrain-ingest-stream").outputs["arn"]
    function = stack.find(FUNCTION, SERVING_FUNCTION).inputs
    logs = stack.find("aws:cloudwatch/logGroup:LogGroup", "autoretrain-serving-logs").outputs["arn"]
    assert role_grants(stack, function["role"]) == {
        "firehose:PutRecord": {stream},
        "firehose:PutRecordBatch": {stream},
        "logs:CreateLogStream": {f"{logs}:*"},
        "logs:PutLogEvents": {f"{logs}:*"},
    }


def test_serving_logs_json_without_the_platforms_per_invocation_lines(stack: Recording) -> None:
    config = stack.find(FUNCTION, SERVING_FUNCTION).inputs["loggingConfig"]
    group = stack.find("aws:cloudwatch/logGroup:LogGroup", "autoretrain-serving-logs").outputs["name"]
    # WARN drops START/REPORT (INFO platform events) and keeps failed invocations; the app's INFO lines stay.
    assert config == {
        "logFormat": "JSON",
        "logGroup": group,
        "systemLogLevel": "WARN",
        "applicationLogLevel": "WARN",
    }


def test_serving_memory_follows_config(stack: Recording, dev_config: dict[str, str]) -> None:
    memory = stack.find(FUNCTION, SERVING_FUNCTION).inputs["memorySize"]
    assert memory == int(dev_config["autoretrain:servingMemoryMb"])


def test_repository_scans_encrypts_and_has_immutable_tags(stack: Recording) -> None:
    repository = stack.find(REPOSITORY, SERVING_REPOSITORY)
    assert repository.inputs["imageTagMutability"] == "IMMUTABLE"
    assert repository.inputs["imageScanningConfiguration"] == {"scanOnPush": True}
    assert repository.inputs["encryptionConfigurations"] == [{"encryptionType": "AES256"}]


def test_repository_keeps_the_configured_number_of_images(stack: Recording, dev_config: dict[str, str]) -> None:
    policy = stack.find("aws:ecr/lifecyclePolicy:LifecyclePolicy", f"{SERVING_REPOSITORY}-lifecycle")
    (rule,) = json.loads(policy.inputs["policy"])["rules"]
    assert rule["selection"]["countNumber"] == int(dev_config["autoretrain:servingKeepImages"])
    assert rule["action"] == {"type": "expire"}


def test_bootstrap_image_is_pushed_for_lambda_x86(stack: Recording) -> None:
    image = stack.find(IMAGE, BOOTSTRAP_IMAGE)
    repository = stack.find(REPOSITORY, SERVING_REPOSITORY).outputs["repositoryUrl"]
    assert image.inputs["push"] is True
    assert image.inputs["platforms"] == ["linux/amd64"]
    assert image.inputs["dockerfile"] == {"location": "lambdas/serving/Dockerfile"}
    assert image.inputs["context"] == {"location": "."}
    (tag,) = image.inputs["tags"]
    assert re.fullmatch(re.escape(repository) + r":bootstrap-[0-9a-f]{20}", tag)


def test_bootstrap_image_logs_in_to_the_repository_registry(stack: Recording) -> None:
    image = stack.find(IMAGE, BOOTSTRAP_IMAGE)
    repository = stack.find(REPOSITORY, SERVING_REPOSITORY).outputs["repositoryUrl"]
    (registry,) = image.inputs["registries"]
    assert registry["address"] == repository.split("/")[0]
    assert registry["username"] == "AWS"


def test_copied_sources_expand_arg_defaults_and_skip_stage_copies() -> None:
    assert copied_sources(DOCKERFILE) == ["app/", "extra.txt"]


def test_copied_sources_of_the_serving_dockerfile_exist() -> None:
    root = Path(__file__).resolve().parents[2]
    sources = copied_sources((root / "lambdas/serving/Dockerfile").read_text())
    assert sources
    assert all((root / source).exists() for source in sources)


def test_content_tag_is_stable(context: Path) -> None:
    assert content_tag(context, "Dockerfile") == content_tag(context, "Dockerfile")


def test_content_tag_changes_with_a_copied_file(context: Path) -> None:
    before = content_tag(context, "Dockerfile")
    (context / "app" / "main.py").write_text("print('v2')\n")
    assert content_tag(context, "Dockerfile") != before


def test_content_tag_changes_with_the_dockerfile(context: Path) -> None:
    before = content_tag(context, "Dockerfile")
    (context / "Dockerfile").write_text(DOCKERFILE + "USER 65532\n")
    assert content_tag(context, "Dockerfile") != before


def test_content_tag_ignores_files_the_image_does_not_copy(context: Path) -> None:
    before = content_tag(context, "Dockerfile")
    (context / "unrelated.txt").write_text("changed\n")
    assert content_tag(context, "Dockerfile") == before


def test_copying_the_whole_context_is_refused(context: Path) -> None:
    (context / "Dockerfile").write_text("FROM scratch\nCOPY . /app/\n")
    with pytest.raises(DockerfileSourceError, match="whole build context"):
        content_tag(context, "Dockerfile")


def test_missing_copy_source_is_refused(context: Path) -> None:
    (context / "Dockerfile").write_text("FROM scratch\nCOPY missing/ /app/\n")
    with pytest.raises(DockerfileSourceError, match="does not exist"):
        content_tag(context, "Dockerfile")


def test_lambda_image_uri_uses_the_digest_alone() -> None:
    uri = lambda_image_uri("1.dkr.ecr.eu-west-1.amazonaws.com/repo", "sha256:" + "a" * 64)
    assert uri == "1.dkr.ecr.eu-west-1.amazonaws.com/repo@sha256:" + "a" * 64


def test_lambda_image_uri_refuses_a_tag_for_a_digest() -> None:
    with pytest.raises(ValueError, match="digest"):
        lambda_image_uri("repo", "bootstrap-abc")


def test_keep_last_images_policy_counts_all_images() -> None:
    (rule,) = json.loads(keep_last_images_policy(5))["rules"]
    assert rule["selection"] == {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 5}
