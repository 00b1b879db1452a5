"""Lambda functions: runtimes, roles, environment, logging, async failure handling and the S3 trigger."""

from __future__ import annotations

import json
import re

import pulumi
import pytest

from core.lake import LakeTable
from core.layout import ETL_PREFIXES, PAYLOAD_STREAM_FILE_EXTENSION
from core.settings import PAYLOAD_ETL_MEMORY_MB, EnvVar, PayloadEtlSettings
from infra.bundles import PAYLOAD_ETL_BUNDLE, archive_files
from infra.config import LOG_RETENTION_DAYS
from infra.layers import LayerError, aws_sdk_pandas_layer_arn
from infra.mocks import RecordedResource, Recording
from tests.infra.grants import role_grants

FUNCTION = "aws:lambda/function:Function"
ETL_FUNCTION = "autoretrain-etl-function"
SERVING_FUNCTION = "autoretrain-serving-function"

#: Supported (not deprecated) runtime identifiers, copied from the AWS Lambda "Lambda runtimes" page
#: (https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html, "Supported runtimes", read 2026).
SUPPORTED_RUNTIMES = {
    "nodejs24.x", "nodejs22.x", "nodejs20.x",
    "python3.14", "python3.13", "python3.12", "python3.11", "python3.10",
    "java25", "java21", "java17", "java11", "java8.al2",
    "dotnet10", "dotnet8",
    "ruby3.4", "ruby3.3",
    "provided.al2023", "provided.al2",
}  # fmt: skip

#: Reserved environment variables Lambda refuses or overrides
#: (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html, "Defined runtime environment variables").
RESERVED_ENV_VARS = {
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
    "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR", "TZ",
}  # fmt: skip
RESERVED_ENV_PREFIXES = ("AWS_LAMBDA_", "AWS_XRAY_")


def _functions(stack: Recording) -> list[RecordedResource]:
    functions = stack.of_type(FUNCTION)
    assert functions
    return functions


def _policy_of_role(stack: Recording, role_arn: str) -> dict[str, object]:
    document: dict[str, object] = json.loads(stack.role_policy(role_arn).inputs["policy"])
    return document


def test_zip_functions_use_supported_runtimes(stack: Recording) -> None:
    runtimes = [
        function.inputs["runtime"] for function in _functions(stack) if function.inputs.get("packageType") != "Image"
    ]
    assert runtimes
    assert set(runtimes) <= SUPPORTED_RUNTIMES


def test_no_function_sets_a_reserved_environment_variable(stack: Recording) -> None:
    names = {name for function in _functions(stack) for name in function.inputs["environment"]["variables"]}
    assert names
    reserved = {name for name in names if name in RESERVED_ENV_VARS or name.startswith(RESERVED_ENV_PREFIXES)}
    assert reserved == set()


def test_environment_variables_are_the_deployment_contract(stack: Recording) -> None:
    contract = {name.value for name in EnvVar}
    for function in _functions(stack):
        assert set(function.inputs["environment"]["variables"]) <= contract


def test_etl_environment_carries_table_retention_and_model(stack: Recording, dev_config: dict[str, str]) -> None:
    variables = stack.find(FUNCTION, ETL_FUNCTION).inputs["environment"]["variables"]
    table = stack.find("aws:dynamodb/table:Table", "autoretrain-payloads-table").outputs["name"]
    assert variables[EnvVar.PAYLOAD_TABLE] == table
    assert variables[EnvVar.PAYLOAD_RETENTION_DAYS] == dev_config["autoretrain:payloadRetentionDays"]
    assert variables[EnvVar.MODEL_NAME] == dev_config["autoretrain:modelName"]


def test_etl_environment_names_the_model_bucket_it_reads_baselines_from(stack: Recording) -> None:
    variables = stack.find(FUNCTION, ETL_FUNCTION).inputs["environment"]["variables"]
    bucket = stack.find("aws:s3/bucket:Bucket", "autoretrain-models").outputs["bucket"]
    assert variables[EnvVar.MODEL_BUCKET] == bucket
    assert PayloadEtlSettings.from_env(variables).model_bucket == bucket


def test_etl_may_read_its_models_baselines_and_nothing_else_of_the_model_bucket(stack: Recording) -> None:
    allowed = role_grants(stack, stack.find(FUNCTION, ETL_FUNCTION).inputs["role"])
    models = stack.find("aws:s3/bucket:Bucket", "autoretrain-models").outputs["arn"]
    payloads = stack.find("aws:s3/bucket:Bucket", "autoretrain-payloads").outputs["arn"]
    assert allowed["s3:GetObject"] == {
        f"{payloads}/payloads/*",
        f"{payloads}/labels/*",
        f"{models}/models/churn/*/baseline.json",
    }
    assert not any(
        resource.startswith(models)
        for action, resources in allowed.items()
        if action != "s3:GetObject"
        for resource in resources
    )
    # The model bucket is SSE-S3: no key to decrypt with.
    assert not any(action.startswith("kms:") for action in allowed)


def test_etl_notification_filters_on_prefixes_only_so_firehose_objects_trigger_it(stack: Recording) -> None:
    notification = stack.find("aws:s3/bucketNotification:BucketNotification", "autoretrain-etl-notification")
    for target in notification.inputs["lambdaFunctions"]:
        # Firehose's objects end in `.jsonl.gz`: a suffix filter (".jsonl") would miss every one of them.
        assert not target.get("filterSuffix")
        assert PAYLOAD_STREAM_FILE_EXTENSION.endswith(target.get("filterSuffix", ""))


@pytest.mark.parametrize("name", [ETL_FUNCTION, "autoretrain-alerting-function"])
def test_zip_functions_log_json_at_info(stack: Recording, name: str) -> None:
    config = stack.find(FUNCTION, name).inputs["loggingConfig"]
    assert (config["logFormat"], config["systemLogLevel"], config["applicationLogLevel"]) == ("JSON", "INFO", "INFO")


def test_etl_runs_the_contract_handler_on_arm(stack: Recording) -> None:
    inputs = stack.find(FUNCTION, ETL_FUNCTION).inputs
    assert (inputs["handler"], inputs["runtime"], inputs["architectures"]) == (
        "lambdas.payload_etl.handler",
        "python3.13",
        ["arm64"],
    )


def test_every_function_has_its_own_role(stack: Recording) -> None:
    roles = [function.inputs["role"] for function in _functions(stack)]
    role_arns = {role.outputs["arn"] for role in stack.of_type("aws:iam/role:Role")}
    assert len(roles) == len(set(roles))
    assert set(roles) <= role_arns


def test_roles_attach_no_managed_policies(stack: Recording) -> None:
    assert stack.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment") == []
    assert all(not role.inputs.get("managedPolicyArns") for role in stack.of_type("aws:iam/role:Role"))


def test_every_function_logs_to_its_own_log_group_with_retention(stack: Recording) -> None:
    groups = {group.outputs["name"]: group for group in stack.of_type("aws:cloudwatch/logGroup:LogGroup")}
    used = [function.inputs["loggingConfig"]["logGroup"] for function in _functions(stack)]
    assert len(used) == len(set(used))
    assert set(used) <= set(groups)
    assert all(groups[name].inputs["retentionInDays"] in LOG_RETENTION_DAYS for name in used)


def test_every_function_may_write_only_to_its_own_log_group(stack: Recording) -> None:
    arns = {group.outputs["name"]: group.outputs["arn"] for group in stack.of_type("aws:cloudwatch/logGroup:LogGroup")}
    for function in _functions(stack):
        own = arns[function.inputs["loggingConfig"]["logGroup"]]
        statements = _policy_of_role(stack, function.inputs["role"])["Statement"]
        assert isinstance(statements, list)
        log_resources = {
            resource
            for statement in statements
            if any(action.startswith("logs:") for action in statement["Action"])
            for resource in statement["Resource"]
        }
        assert log_resources == {f"{own}:*"}


def test_log_groups_keep_logs_for_the_configured_days(stack: Recording, dev_config: dict[str, str]) -> None:
    days = {group.inputs["retentionInDays"] for group in stack.of_type("aws:cloudwatch/logGroup:LogGroup")}
    assert days == {int(dev_config["autoretrain:logRetentionDays"])}


def test_etl_async_retries_are_bounded_with_a_failure_destination(stack: Recording) -> None:
    etl = stack.find(FUNCTION, ETL_FUNCTION)
    (config,) = [
        item
        for item in stack.of_type("aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig")
        if item.inputs["functionName"] == etl.outputs["name"]
    ]
    queue = stack.find("aws:sqs/queue:Queue", "autoretrain-etl-failures")
    assert config.inputs["maximumRetryAttempts"] <= 2
    assert 60 <= config.inputs["maximumEventAgeInSeconds"] < 6 * 3600
    assert config.inputs["destinationConfig"]["onFailure"]["destination"] == queue.outputs["arn"]


def test_failure_queue_is_encrypted(stack: Recording) -> None:
    assert stack.find("aws:sqs/queue:Queue", "autoretrain-etl-failures").inputs["sqsManagedSseEnabled"] is True


def test_etl_may_send_to_its_failure_queue(stack: Recording) -> None:
    queue_arn = stack.find("aws:sqs/queue:Queue", "autoretrain-etl-failures").outputs["arn"]
    statements = _policy_of_role(stack, stack.find(FUNCTION, ETL_FUNCTION).inputs["role"])["Statement"]
    assert isinstance(statements, list)
    assert {"Sid": "ReportFailedEvents", "Effect": "Allow", "Action": ["sqs:SendMessage"], "Resource": [queue_arn]} in (
        statements
    )


def test_payload_bucket_notifies_the_etl_for_each_etl_prefix(stack: Recording) -> None:
    etl = stack.find(FUNCTION, ETL_FUNCTION)
    payload_bucket = stack.find("aws:s3/bucket:Bucket", "autoretrain-payloads").outputs["bucket"]
    (notification,) = [
        item
        for item in stack.of_type("aws:s3/bucketNotification:BucketNotification")
        if item.inputs["bucket"] == payload_bucket
    ]
    targets = {
        (target["lambdaFunctionArn"], target["filterPrefix"], tuple(target["events"]))
        for target in notification.inputs["lambdaFunctions"]
    }
    assert targets == {(etl.outputs["arn"], prefix, ("s3:ObjectCreated:*",)) for prefix in ETL_PREFIXES}


def test_s3_may_invoke_the_etl_only_from_the_payload_bucket_and_account(stack: Recording) -> None:
    etl = stack.find(FUNCTION, ETL_FUNCTION)
    bucket = stack.find("aws:s3/bucket:Bucket", "autoretrain-payloads")
    (permission,) = stack.of_type("aws:lambda/permission:Permission")
    assert permission.inputs["function"] == etl.outputs["name"]
    assert permission.inputs["principal"] == "s3.amazonaws.com"
    assert permission.inputs["action"] == "lambda:InvokeFunction"
    assert permission.inputs["sourceArn"] == bucket.outputs["arn"]
    assert re.fullmatch(r"\d{12}", permission.inputs["sourceAccount"])


def test_notification_waits_for_the_invoke_permission(stack: Recording) -> None:
    (permission,) = stack.of_type("aws:lambda/permission:Permission")
    notification = stack.find("aws:s3/bucketNotification:BucketNotification", "autoretrain-etl-notification")
    assert permission.urn in notification.dependencies


@pytest.mark.parametrize("name", [ETL_FUNCTION, SERVING_FUNCTION])
def test_function_waits_for_its_role_policy(stack: Recording, name: str) -> None:
    function = stack.find(FUNCTION, name)
    policies = {policy.urn for policy in stack.of_type("aws:iam/rolePolicy:RolePolicy")}
    assert policies & set(function.dependencies)


def test_etl_code_is_the_packaged_archive(stack: Recording) -> None:
    code = stack.find(FUNCTION, ETL_FUNCTION).inputs["code"]
    assert isinstance(code, pulumi.AssetArchive)
    assert all(isinstance(asset, pulumi.FileAsset) for asset in code.assets.values())
    assert {name: getattr(asset, "path", None) for name, asset in code.assets.items()} == {
        name: str(path) for name, path in archive_files(PAYLOAD_ETL_BUNDLE).items()
    }


# --- The ETL and the lake ------------------------------------------------------------------------------------------


def _layer_name(runtime: str, architecture: str) -> str:
    """The managed layer's name for a runtime and architecture, spelled out as the AWS SDK for pandas docs do."""
    version = runtime.removeprefix("python").replace(".", "")
    return f"AWSSDKPandas-Python{version}" + ("-Arm64" if architecture == "arm64" else "")


def test_etl_runs_with_the_aws_sdk_for_pandas_layer_of_its_region_runtime_and_architecture(
    stack: Recording, dev_config: dict[str, str]
) -> None:
    inputs = stack.find(FUNCTION, ETL_FUNCTION).inputs
    (provider,) = stack.of_type("pulumi:providers:aws")
    (architecture,) = inputs["architectures"]
    (layer,) = inputs["layers"]
    region = provider.inputs["region"]
    version = dev_config["autoretrain:awsSdkPandasLayerVersion"]
    assert layer == (
        f"arn:aws:lambda:{region}:336392948345:layer:{_layer_name(inputs['runtime'], architecture)}:{version}"
    )
    assert layer == "arn:aws:lambda:eu-west-1:336392948345:layer:AWSSDKPandas-Python313-Arm64:14"


def test_layer_version_comes_from_config(alternative_stack: Recording) -> None:
    (layer,) = alternative_stack.find(FUNCTION, ETL_FUNCTION).inputs["layers"]
    assert layer.endswith(":layer:AWSSDKPandas-Python313-Arm64:15")


@pytest.mark.parametrize(
    ("region", "runtime", "architecture", "expected"),
    [
        (
            "us-east-1",
            "python3.13",
            "arm64",
            "arn:aws:lambda:us-east-1:336392948345:layer:AWSSDKPandas-Python313-Arm64:14",
        ),
        (
            "eu-central-1",
            "python3.12",
            "x86_64",
            "arn:aws:lambda:eu-central-1:336392948345:layer:AWSSDKPandas-Python312:14",
        ),
        (
            "ap-east-1",
            "python3.13",
            "arm64",
            "arn:aws:lambda:ap-east-1:839552336658:layer:AWSSDKPandas-Python313-Arm64:14",
        ),
    ],
)
def test_layer_arn_follows_the_published_format(region: str, runtime: str, architecture: str, expected: str) -> None:
    assert aws_sdk_pandas_layer_arn(region, runtime, architecture, 14) == expected


@pytest.mark.parametrize(
    ("region", "runtime", "architecture", "version"),
    [
        ("cn-north-1", "python3.13", "arm64", 14),  # another partition
        ("us-east-1", "nodejs22.x", "arm64", 14),
        ("us-east-1", "python3.13", "riscv", 14),
        ("us-east-1", "python3.13", "arm64", 0),
    ],
)
def test_layer_arn_refuses_what_has_no_layer(region: str, runtime: str, architecture: str, version: int) -> None:
    with pytest.raises(LayerError):
        aws_sdk_pandas_layer_arn(region, runtime, architecture, version)


def test_etl_memory_is_the_one_the_etl_sizes_its_work_by(stack: Recording) -> None:
    memory = stack.find(FUNCTION, ETL_FUNCTION).inputs["memorySize"]
    assert memory == PAYLOAD_ETL_MEMORY_MB
    # The AWS SDK for pandas docs warn that less than 512 MB may not do with the layer.
    assert memory >= 512


def test_etl_environment_names_the_lake_database(stack: Recording) -> None:
    variables = stack.find(FUNCTION, ETL_FUNCTION).inputs["environment"]["variables"]
    database = stack.find("aws:glue/catalogDatabase:CatalogDatabase", "autoretrain-lake-database").outputs["name"]
    assert variables[EnvVar.LAKE_DATABASE] == database


def test_etl_may_write_only_lake_files_and_read_only_the_lake_tables(stack: Recording) -> None:
    allowed = role_grants(stack, stack.find(FUNCTION, ETL_FUNCTION).inputs["role"])
    bucket = stack.find("aws:s3/bucket:Bucket", "autoretrain-payloads").outputs["arn"]
    database = stack.find("aws:glue/catalogDatabase:CatalogDatabase", "autoretrain-lake-database").outputs["arn"]
    tables = {
        stack.find("aws:glue/catalogTable:CatalogTable", f"autoretrain-lake-{table}").outputs["arn"]
        for table in LakeTable
    }
    assert allowed["s3:PutObject"] == {f"{bucket}/quarantine/*", f"{bucket}/lake/*"}
    assert allowed["glue:GetTable"] == {"arn:aws:glue:eu-west-1:123456789012:catalog", database, *tables}
    assert [action for action in allowed if action.startswith(("glue:", "athena:"))] == ["glue:GetTable"]


def test_alerting_uses_the_history_the_table_ttl_is_validated_against(stack: Recording) -> None:
    variables = stack.find(FUNCTION, "autoretrain-alerting-function").inputs["environment"]["variables"]
    assert EnvVar.ALERT_HISTORY_DAYS not in variables
