"""The Batch jobs' IAM policy documents: the shared execution role's (Fargate pulls the image and writes the logs)
and each job role's (what the job's own code does). Pure; unit-tested without Pulumi."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core.layout import release_object_key, training_prefix
from core.metric_names import METRIC_NAMESPACE
from core.tables import BY_STATUS_INDEX, BY_TIME_INDEX
from infra.job_specs import Job
from infra.policies import (
    Statement,
    any_resource_statement,
    log_statement,
    object_arns,
    policy_document,
    table_and_index_arns,
)

#: What the drift-check job does with the payload table: read labels by key, keep its drift state (Get/PutItem).
DRIFT_PAYLOAD_ACTIONS = ("dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem")
#: Registry writes of the retrain job; TransactWriteItems authorises each item with these per-item actions.
REGISTRY_WRITE_ACTIONS = ("dynamodb:ConditionCheckItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem")
ECR_PULL_ACTIONS = ("ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")


@dataclass(frozen=True, slots=True)
class JobResources:
    """What the job roles are scoped to: the model and the ARNs of the stack's data and bus."""

    model_name: str
    payload_bucket_arn: str
    model_bucket_arn: str
    payload_table_arn: str
    registry_table_arn: str
    event_bus_arn: str


def execution_role_policy(*, repository_arn: str, log_group_arn: str) -> str:
    """The execution role (used by Fargate, not by our code): pull the jobs image and write the jobs' logs."""
    return policy_document(
        [
            # AWS requires "*": a registry login token is account-wide (ECR has no resource type for it).
            any_resource_statement("LogInToRegistry", ["ecr:GetAuthorizationToken"]),
            Statement("PullJobsImage", ECR_PULL_ACTIONS, [repository_arn]),
            log_statement(log_group_arn),
        ]
    )


def drift_check_job_policy(resources: JobResources) -> str:
    """The drift-check job: read the champion's files and the payload window, keep its state, write the report,
    publish metrics in our namespace and events on our bus (it reads no payload objects)."""
    model_name, model_bucket_arn = resources.model_name, resources.model_bucket_arn
    return policy_document(
        [
            Statement("ReadChampionFiles", ["s3:GetObject"], object_arns(model_bucket_arn, [f"models/{model_name}/"])),
            # Without ListBucket a missing object reads as AccessDenied; with it, as NoSuchKey (a clear error).
            Statement("TellMissingObjects", ["s3:ListBucket"], [model_bucket_arn]),
            Statement("WriteReports", ["s3:PutObject"], object_arns(model_bucket_arn, [f"reports/{model_name}/"])),
            Statement(
                "QueryPayloadWindow",
                ["dynamodb:Query"],
                table_and_index_arns(resources.payload_table_arn, BY_TIME_INDEX),
            ),
            Statement("ReadLabelsKeepDriftState", DRIFT_PAYLOAD_ACTIONS, [resources.payload_table_arn]),
            Statement(
                "ReadRegistry",
                ["dynamodb:GetItem", "dynamodb:Query"],
                table_and_index_arns(resources.registry_table_arn, BY_STATUS_INDEX),
            ),
            # AWS requires "*" for PutMetricData (metrics have no ARN); the namespace condition scopes it.
            any_resource_statement(
                "PublishDriftMetrics",
                ["cloudwatch:PutMetricData"],
                {"StringEquals": {"cloudwatch:namespace": METRIC_NAMESPACE}},
            ),
            Statement("PublishEvents", ["events:PutEvents"], [resources.event_bus_arn]),
        ]
    )


def retrain_job_policy(resources: JobResources) -> str:
    """The retrain job: read the initial training set and matured payloads, read the champion and write new
    versions and the release object, record versions in the registry, publish events."""
    model_name, model_bucket_arn = resources.model_name, resources.model_bucket_arn
    payload_bucket_arn, payload_table_arn = resources.payload_bucket_arn, resources.payload_table_arn
    registry_table_arn = resources.registry_table_arn
    training = training_prefix(model_name)
    model_objects = [
        *object_arns(model_bucket_arn, [f"models/{model_name}/"]),
        f"{model_bucket_arn}/{release_object_key(model_name)}",
    ]
    return policy_document(
        [
            Statement("ReadTrainingSet", ["s3:GetObject"], object_arns(payload_bucket_arn, [training])),
            Statement(
                "ListTrainingSet",
                ["s3:ListBucket"],
                [payload_bucket_arn],
                condition={"StringLike": {"s3:prefix": [training, f"{training}*"]}},
            ),
            # GetObjectVersion: the champion is loaded by the exact S3 version the registry recorded.
            Statement("ReadWriteModelVersions", ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject"], model_objects),
            # Without ListBucket a release object that does not exist yet reads as AccessDenied instead of 404.
            Statement("TellMissingObjects", ["s3:ListBucket"], [model_bucket_arn]),
            Statement("QueryPayloads", ["dynamodb:Query"], table_and_index_arns(payload_table_arn, BY_TIME_INDEX)),
            Statement("ReadLabels", ["dynamodb:BatchGetItem"], [payload_table_arn]),
            Statement("QueryRegistry", ["dynamodb:Query"], table_and_index_arns(registry_table_arn, BY_STATUS_INDEX)),
            Statement("RecordVersions", REGISTRY_WRITE_ACTIONS, [registry_table_arn]),
            Statement("PublishEvents", ["events:PutEvents"], [resources.event_bus_arn]),
        ]
    )


#: Each job role's policy document.
JOB_ROLE_POLICIES: dict[Job, Callable[[JobResources], str]] = {
    Job.DRIFT_CHECK: drift_check_job_policy,
    Job.RETRAIN: retrain_job_policy,
}
