"""Release pipeline: S3 sources, event-driven start, CodeBuild settings (the canary's too) and the roles of each
part."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import botocore.session
import pulumi
import pytest
from botocore import xform_name

from core.settings import DeploySettings
from infra.code_bundle import CODE_BUNDLE_KEY, CORE_MODULES, CodeBundleError, code_bundle_files
from infra.mocks import RecordedResource, Recording
from infra.release import (
    BUILD_IMAGE,
    BUILD_TIMEOUT_MINUTES,
    MAX_BUILD_TIMEOUT_MINUTES,
    MAX_CANARY_MINUTES,
    Canary,
    build_environment,
    build_timeout_minutes,
    release_created_pattern,
)
from tests.infra.grants import role_grants

PIPELINE = "aws:codepipeline/pipeline:Pipeline"
PROJECT = "aws:codebuild/project:Project"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
REPO_ROOT = Path(__file__).resolve().parents[2]


def _pipeline(stack: Recording) -> RecordedResource:
    return stack.find(PIPELINE, "autoretrain-release-pipeline")


def _project(stack: Recording) -> RecordedResource:
    return stack.find(PROJECT, "autoretrain-release-build")


def _actions(stack: Recording, stage: str) -> dict[str, dict[str, Any]]:
    (found,) = [item for item in _pipeline(stack).inputs["stages"] if item["name"] == stage]
    return {action["name"]: action for action in found["actions"]}


def _bucket(stack: Recording, name: str) -> RecordedResource:
    return stack.find("aws:s3/bucket:Bucket", name)


def test_pipeline_is_v2_and_stores_artifacts_in_the_artifact_bucket(stack: Recording) -> None:
    pipeline = _pipeline(stack).inputs
    assert pipeline["pipelineType"] == "V2"
    assert pipeline["artifactStores"] == [
        {"location": _bucket(stack, "autoretrain-pipeline-artifacts").outputs["bucket"], "type": "S3"}
    ]


def test_release_source_is_the_zip_on_the_versioned_model_bucket_without_polling(stack: Recording) -> None:
    release = _actions(stack, "Source")["release"]
    model_bucket = _bucket(stack, "autoretrain-models")
    versioning = stack.find("aws:s3/bucketVersioning:BucketVersioning", "autoretrain-models-versioning")
    assert (release["provider"], release["category"]) == ("S3", "Source")
    assert release["configuration"] == {
        "S3Bucket": model_bucket.outputs["bucket"],
        "S3ObjectKey": "release/churn.zip",
        "PollForSourceChanges": "false",
    }
    assert release["configuration"]["S3ObjectKey"].endswith(".zip")
    assert versioning.inputs["bucket"] == model_bucket.id
    assert versioning.inputs["versioningConfiguration"]["status"] == "Enabled"


def test_code_source_is_the_bundle_pulumi_uploads_to_the_versioned_artifact_bucket(stack: Recording) -> None:
    code = _actions(stack, "Source")["code"]
    bundle = stack.find("aws:s3/bucketObjectv2:BucketObjectv2", "autoretrain-release-code-bundle")
    bucket = _bucket(stack, "autoretrain-pipeline-artifacts").outputs["bucket"]
    assert code["configuration"] == {
        "S3Bucket": bucket,
        "S3ObjectKey": CODE_BUNDLE_KEY,
        "PollForSourceChanges": "false",
    }
    assert (bundle.inputs["bucket"], bundle.inputs["key"]) == (bucket, CODE_BUNDLE_KEY)
    stack.find("aws:s3/bucketVersioning:BucketVersioning", "autoretrain-pipeline-artifacts-versioning")


def test_code_bundle_carries_the_buildspec_and_the_deploy_code(stack: Recording) -> None:
    source = stack.find("aws:s3/bucketObjectv2:BucketObjectv2", "autoretrain-release-code-bundle").inputs["source"]
    assert isinstance(source, pulumi.AssetArchive)
    names = set(source.assets)
    assert {"buildspec.yml", "lambdas/serving/Dockerfile", "deploy/__main__.py"} <= names
    assert names == set(code_bundle_files())


def test_code_bundle_files_skip_caches(tmp_path: Path) -> None:
    for name in ("buildspec.yml", "lambdas/__init__.py", *(f"core/{module}.py" for module in CORE_MODULES)):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    for directory in ("core", "lambdas/serving", "deploy"):
        (tmp_path / directory / "__pycache__").mkdir(parents=True)
        (tmp_path / directory / "__pycache__" / "m.cpython-311.pyc").write_bytes(b"")
        (tmp_path / directory / "m.py").write_text("x")
    files = code_bundle_files(tmp_path)
    assert {"core/records.py", "lambdas/serving/m.py", "deploy/m.py"} <= set(files)
    assert "core/m.py" not in files  # core ships only the modules the steps import
    assert not any("__pycache__" in name for name in files)


def test_code_bundle_refuses_a_missing_buildspec(tmp_path: Path) -> None:
    with pytest.raises(CodeBundleError, match=r"buildspec\.yml"):
        code_bundle_files(tmp_path)


def test_deploy_stage_runs_codebuild_on_both_artifacts_reading_the_buildspec_from_the_code(stack: Recording) -> None:
    deploy = _actions(stack, "Deploy")["BuildAndDeploy"]
    assert deploy["provider"] == "CodeBuild"
    assert set(deploy["inputArtifacts"]) == {"release", "code"}
    assert deploy["configuration"] == {"ProjectName": _project(stack).outputs["name"], "PrimarySource": "code"}


def test_codebuild_is_privileged_and_runs_the_repository_buildspec(stack: Recording) -> None:
    project = _project(stack).inputs
    assert project["environment"]["privilegedMode"] is True
    assert project["environment"]["image"] == BUILD_IMAGE == "aws/codebuild/amazonlinux-x86_64-standard:5.0"
    assert project["source"] == {"type": "CODEPIPELINE", "buildspec": "buildspec.yml"}
    assert (REPO_ROOT / "buildspec.yml").is_file()


def test_codebuild_logs_to_its_log_group(stack: Recording) -> None:
    group = stack.find("aws:cloudwatch/logGroup:LogGroup", "autoretrain-release-build-logs").outputs["name"]
    logs = _project(stack).inputs["logsConfig"]
    assert logs["cloudwatchLogs"] == {"status": "ENABLED", "groupName": group}


def test_codebuild_environment_names_the_deploy_targets(stack: Recording) -> None:
    variables = {item["name"]: item["value"] for item in _project(stack).inputs["environment"]["environmentVariables"]}
    function = stack.find("aws:lambda/function:Function", "autoretrain-serving-function").outputs["name"]
    repository = stack.find("aws:ecr/repository:Repository", "autoretrain-serving-repository").outputs["repositoryUrl"]
    registry = stack.find("aws:dynamodb/table:Table", "autoretrain-registry-table").outputs["name"]
    assert variables["SERVING_FUNCTION_NAME"] == variables["AUTORETRAIN_SERVING_FUNCTION"] == function
    assert variables["SERVING_REPOSITORY_URL"] == variables["AUTORETRAIN_ECR_REPOSITORY_URI"] == repository
    assert variables["SERVING_ALIAS"] == "live"
    assert variables["AUTORETRAIN_REGISTRY_TABLE"] == registry
    assert variables["AWS_ACCOUNT_ID"] == "123456789012"
    assert DeploySettings.from_env(variables).serving_function == function


def test_codebuild_role_deploys_only_the_serving_function_and_repository(stack: Recording) -> None:
    allowed = role_grants(stack, _project(stack).inputs["serviceRole"])
    function = stack.find("aws:lambda/function:Function", "autoretrain-serving-function").outputs["arn"]
    repository = stack.find("aws:ecr/repository:Repository", "autoretrain-serving-repository").outputs["arn"]
    for action in ("lambda:UpdateFunctionCode", "lambda:PublishVersion", "lambda:UpdateAlias", "lambda:GetAlias"):
        assert allowed[action] == {function, f"{function}:*"}
    assert allowed["ecr:PutImage"] == {repository}
    assert allowed["ecr:GetAuthorizationToken"] == {"*"}
    assert allowed["dynamodb:ConditionCheckItem"] == {
        stack.find("aws:dynamodb/table:Table", "autoretrain-registry-table").outputs["arn"]
    }


def test_pipeline_role_reads_only_the_release_object_and_runs_only_the_project(stack: Recording) -> None:
    allowed = role_grants(stack, _pipeline(stack).inputs["roleArn"])
    models = _bucket(stack, "autoretrain-models").outputs["arn"]
    artifacts = _bucket(stack, "autoretrain-pipeline-artifacts").outputs["arn"]
    assert allowed["s3:GetObjectVersion"] == {f"{models}/release/churn.zip", f"{artifacts}/*"}
    assert allowed["s3:PutObject"] == {f"{artifacts}/*"}
    assert allowed["codebuild:StartBuild"] == {_project(stack).outputs["arn"]}


def test_release_rule_starts_the_pipeline_on_the_release_objects_creation(stack: Recording) -> None:
    rule = stack.find("aws:cloudwatch/eventRule:EventRule", "autoretrain-release-release-created")
    model_bucket = _bucket(stack, "autoretrain-models").outputs["bucket"]
    assert "eventBusName" not in rule.inputs  # S3 sends to the default bus
    assert json.loads(rule.inputs["eventPattern"]) == {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [model_bucket]}, "object": {"key": ["release/churn.zip"]}},
    }
    target = stack.find("aws:cloudwatch/eventTarget:EventTarget", "autoretrain-release-release-created-target")
    assert target.inputs["arn"] == _pipeline(stack).outputs["arn"]
    assert target.inputs["deadLetterConfig"]["arn"]


def test_release_rule_role_may_only_start_this_pipeline(stack: Recording) -> None:
    target = stack.find("aws:cloudwatch/eventTarget:EventTarget", "autoretrain-release-release-created-target")
    assert role_grants(stack, target.inputs["roleArn"]) == {
        "codepipeline:StartPipelineExecution": {_pipeline(stack).outputs["arn"]}
    }


def test_model_bucket_sends_its_events_to_eventbridge_through_one_notification(stack: Recording) -> None:
    model_bucket = _bucket(stack, "autoretrain-models").id
    notifications = [
        item
        for item in stack.of_type("aws:s3/bucketNotification:BucketNotification")
        if item.inputs["bucket"] == model_bucket
    ]
    assert [item.inputs.get("eventbridge") for item in notifications] == [True]


def test_no_bucket_has_two_notification_configurations(stack: Recording) -> None:
    buckets = [item.inputs["bucket"] for item in stack.of_type("aws:s3/bucketNotification:BucketNotification")]
    assert len(buckets) == len(set(buckets))


def test_release_pattern_names_the_models_release_key() -> None:
    pattern = json.loads(release_created_pattern(bucket="b", model_name="fraud"))
    assert pattern["detail"]["object"] == {"key": ["release/fraud.zip"]}


def test_release_rule_dead_letters_into_a_queue_only_that_rule_may_write_to(stack: Recording) -> None:
    rule = stack.find("aws:cloudwatch/eventRule:EventRule", "autoretrain-release-release-created").outputs["arn"]
    queue = stack.find("aws:sqs/queue:Queue", "autoretrain-release-dead-letters").outputs["arn"]
    target = stack.find("aws:cloudwatch/eventTarget:EventTarget", "autoretrain-release-release-created-target")
    policy = stack.find("aws:sqs/queuePolicy:QueuePolicy", "autoretrain-release-dead-letters-policy")
    (statement,) = json.loads(policy.inputs["policy"])["Statement"]
    assert target.inputs["deadLetterConfig"] == {"arn": queue}
    assert (statement["Principal"], statement["Resource"]) == ({"Service": "events.amazonaws.com"}, [queue])
    assert statement["Condition"] == {"ArnEquals": {"aws:SourceArn": rule}}


def _variables(stack: Recording) -> dict[str, str]:
    return {item["name"]: item["value"] for item in _project(stack).inputs["environment"]["environmentVariables"]}


def _serving_alarm(stack: Recording) -> RecordedResource:
    return stack.find(ALARM, "autoretrain-monitoring-serving-errors")


def test_codebuild_runs_the_canary_by_default_watching_the_serving_alarm(stack: Recording) -> None:
    variables = _variables(stack)
    alarm = _serving_alarm(stack).outputs["name"]
    assert (variables["AUTORETRAIN_CANARY_PERCENT"], variables["AUTORETRAIN_CANARY_MINUTES"]) == ("10", "10")
    assert variables["AUTORETRAIN_DEPLOY_ALARMS"] == alarm
    settings = DeploySettings.from_env(variables)
    assert (settings.canary_percent, settings.canary_minutes, settings.deploy_alarms) == (10, 10, (alarm,))


def test_every_deploy_alarm_is_an_alarm_the_stack_creates(stack: Recording) -> None:
    created = {alarm.outputs["name"] for alarm in stack.of_type(ALARM)}
    deploy_alarms = DeploySettings.from_env(_variables(stack)).deploy_alarms
    assert deploy_alarms
    assert set(deploy_alarms) <= created


def test_the_canary_follows_the_stack_config(alternative_stack: Recording) -> None:
    settings = DeploySettings.from_env(_variables(alternative_stack))
    assert (settings.canary_percent, settings.canary_minutes) == (25, 30)


def test_the_build_time_limit_grows_by_the_canarys_bake_time(stack: Recording, alternative_stack: Recording) -> None:
    assert _project(stack).inputs["buildTimeout"] == BUILD_TIMEOUT_MINUTES + 10
    assert _project(alternative_stack).inputs["buildTimeout"] == BUILD_TIMEOUT_MINUTES + 30
    assert build_timeout_minutes(Canary(percent=0, minutes=30)) == BUILD_TIMEOUT_MINUTES


def test_the_longest_canary_fits_codebuilds_time_limit() -> None:
    assert build_timeout_minutes(Canary(percent=50, minutes=MAX_CANARY_MINUTES)) == MAX_BUILD_TIMEOUT_MINUTES == 2160


def test_without_a_canary_the_build_moves_the_alias_all_at_once() -> None:
    environment = build_environment(
        model_name="churn",
        registry_table="registry",
        event_bus="bus",
        repository_url="1.dkr.ecr.eu-west-1.amazonaws.com/serving",
        function_name="serving",
        alias="live",
        account_id="123456789012",
        canary=Canary(percent=0, minutes=10),
        deploy_alarms=["serving-errors"],
    )
    assert DeploySettings.from_env(environment).canary_percent == 0  # deploy.cli runs no canary at 0 %


def test_codebuild_role_may_read_only_the_serving_alarms_state(stack: Recording) -> None:
    allowed = role_grants(stack, _project(stack).inputs["serviceRole"])
    assert allowed["cloudwatch:DescribeAlarms"] == {_serving_alarm(stack).outputs["arn"]}


def _alias_shift_actions() -> set[str]:
    """The IAM action of every AWS call `deploy/alias.py` makes (a waiter polls the operation it is built on)."""
    source = (REPO_ROOT / "deploy" / "alias.py").read_text()
    services = {"_lambda": "lambda", "_cloudwatch": "cloudwatch", "_ecr": "ecr"}
    calls = re.findall(r"self\.(_lambda|_cloudwatch|_ecr)\.(\w+)\(", source)
    actions = {
        f"{services[client]}:{''.join(part.title() for part in operation.split('_'))}"
        for client, operation in calls
        if operation != "get_waiter"
    }
    waiters = re.findall(r'self\._lambda\.get_waiter\("(\w+)"\)', source)
    model = botocore.session.get_session().get_waiter_model("lambda")
    names = {xform_name(name): name for name in model.waiter_names}
    actions.update(f"lambda:{model.get_waiter(names[waiter]).operation}" for waiter in waiters)
    return actions


def test_codebuild_role_allows_every_call_the_alias_shift_makes(stack: Recording) -> None:
    actions = _alias_shift_actions()
    assert {"cloudwatch:DescribeAlarms", "lambda:UpdateAlias", "lambda:GetFunction"} <= actions
    allowed = role_grants(stack, _project(stack).inputs["serviceRole"])
    assert sorted(actions - set(allowed)) == []
