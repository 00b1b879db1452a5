"""The Batch jobs' IAM policy documents: the shared execution role's (Fargate pulls the image and writes the logs)
and each job role's (what the job's own code does). Pure; unit-tested without Pulumi."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from core.layout import PayloadPrefix, release_object_key, training_prefix
from core.metric_names import METRIC_NAMESPACE
from core.tables import BY_STATUS_INDEX
from infra.job_specs import Job
from infra.lake_policies import (
    LakeAccess,
    compact_lake_statements,
    evolve_predictions_schema_statement,
    query_lake_statements,
)
from infra.policies import (
    Statement,
    any_resource_statement,
    log_statement,
    object_arns,
    policy_document,
    table_and_index_arns,
)

#: What the drift-check job does with the payload table: keep its drift state (consistent GetItem, conditional
#: PutItem). Its windows come from the lake; the table's items are the alerting Lambda's.
DRIFT_PAYLOAD_ACTIONS = ("dynamodb:GetItem", "dynamodb:PutItem")
#: Registry writes of the retrain job; TransactWriteItems authorises each item with these per-item actions.
REGISTRY_WRITE_ACTIONS = ("dynamodb:ConditionCheckItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem")
ECR_PULL_ACTIONS = ("ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")


@dataclass(frozen=True, slots=True)
class JobResources:
    """What the job roles are scoped to: the model and the ARNs of the stack's data, lake and bus."""

    model_name: str
    payload_bucket_arn: str
    model_bucket_arn: str
    payload_table_arn: str
    registry_table_arn: str
    event_bus_arn: str
    lake: LakeAccess


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
    """The drift-check job: read the champion's files and the window from the lake (Athena in the workgroup), keep
    its state, write the report, publish metrics in our namespace and events on our bus (of the payload bucket it
    reads only `lake/`)."""
    model_name, model_bucket_arn = resources.model_name, resources.model_bucket_arn
    return policy_document(
        [
            Statement("ReadChampionFiles", ["s3:GetObject"], object_arns(model_bucket_arn, [f"models/{model_name}/"])),
            # Without ListBucket a missing object reads as AccessDenied; with it, as NoSuchKey (a clear error).
            Statement("TellMissingObjects", ["s3:ListBucket"], [model_bucket_arn]),
            Statement("WriteReports", ["s3:PutObject"], object_arns(model_bucket_arn, [f"reports/{model_name}/"])),
            Statement("KeepDriftState", DRIFT_PAYLOAD_ACTIONS, [resources.payload_table_arn]),
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
            *query_lake_statements(resources.lake),
        ]
    )


def retrain_job_policy(resources: JobResources) -> str:
    """The retrain job: read the initial training set and the matured window from the lake, add the release's
    feature columns to the predictions table, read the champion and write new versions and the release object,
    record versions in the registry, publish events (the payload table it no longer reads)."""
    model_name, model_bucket_arn = resources.model_name, resources.model_bucket_arn
    payload_bucket_arn = resources.payload_bucket_arn
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
            Statement("QueryRegistry", ["dynamodb:Query"], table_and_index_arns(registry_table_arn, BY_STATUS_INDEX)),
            Statement("RecordVersions", REGISTRY_WRITE_ACTIONS, [registry_table_arn]),
            Statement("PublishEvents", ["events:PutEvents"], [resources.event_bus_arn]),
            *query_lake_statements(resources.lake),
            evolve_predictions_schema_statement(resources.lake.catalog),
        ]
    )


def live_evaluation_job_policy(resources: JobResources) -> str:
    """The live evaluation: read the lake (the review sample, outcomes per arm, shadow answers), write the day's review
    file under `review/model=<m>/` of the payload bucket and its result under `reports/<m>/`, read the registry and
    record a shadow's promotion decision, re-release a promoted shadow (its version's files, the release object),
    publish metrics and events."""
    model_name, model_bucket_arn = resources.model_name, resources.model_bucket_arn
    return policy_document(
        [
            Statement(
                "WriteReviewFiles",
                ["s3:PutObject"],
                object_arns(resources.payload_bucket_arn, [f"{PayloadPrefix.REVIEW.value}model={model_name}/"]),
            ),
            Statement(
                "ReadModelVersions",
                ["s3:GetObject", "s3:GetObjectVersion"],
                object_arns(model_bucket_arn, [f"models/{model_name}/"]),
            ),
            Statement("WriteResults", ["s3:PutObject"], object_arns(model_bucket_arn, [f"reports/{model_name}/"])),
            # A re-release reads the release object's metadata first (HeadObject needs GetObject): a retry writes
            # nothing twice.
            Statement(
                "ReadWriteReleaseObject",
                ["s3:GetObject", "s3:PutObject"],
                [f"{model_bucket_arn}/{release_object_key(model_name)}"],
            ),
            Statement("TellMissingObjects", ["s3:ListBucket"], [model_bucket_arn]),
            Statement(
                "ReadRegistry",
                ["dynamodb:GetItem", "dynamodb:Query"],
                table_and_index_arns(resources.registry_table_arn, BY_STATUS_INDEX),
            ),
            Statement("RecordShadowDecisions", REGISTRY_WRITE_ACTIONS, [resources.registry_table_arn]),
            any_resource_statement(
                "PublishLiveMetrics",
                ["cloudwatch:PutMetricData"],
                {"StringEquals": {"cloudwatch:namespace": METRIC_NAMESPACE}},
            ),
            Statement("PublishEvents", ["events:PutEvents"], [resources.event_bus_arn]),
            *query_lake_statements(resources.lake),
        ]
    )


def compact_lake_job_policy(resources: JobResources) -> str:
    """The compaction job: rewrite the lake's small files as large ones, under `lake/` only (no catalog, no query)."""
    return policy_document(compact_lake_statements(resources.payload_bucket_arn))


#: Each job role's policy document.
JOB_ROLE_POLICIES: dict[Job, Callable[[JobResources], str]] = {
    Job.DRIFT_CHECK: drift_check_job_policy,
    Job.RETRAIN: retrain_job_policy,
    Job.COMPACT_LAKE: compact_lake_job_policy,
    Job.LIVE_EVALUATION: live_evaluation_job_policy,
}
