"""Names of the stack outputs, defined once (the program exports them; scripts and docs read them)."""

from __future__ import annotations

from enum import StrEnum


class StackOutput(StrEnum):
    """`pulumi stack output <name>`."""

    PAYLOAD_BUCKET = "payloadBucket"
    MODEL_BUCKET = "modelBucket"
    ARTIFACT_BUCKET = "artifactBucket"
    PAYLOAD_TABLE = "payloadTable"
    REGISTRY_TABLE = "registryTable"
    PAYLOAD_ETL_FUNCTION = "payloadEtlFunction"
    PAYLOAD_ETL_FAILURE_QUEUE = "payloadEtlFailureQueue"
    PAYLOAD_STREAM = "payloadStream"
    SERVING_REPOSITORY_URL = "servingRepositoryUrl"
    SERVING_FUNCTION = "servingFunction"
    SERVING_ALIAS_ARN = "servingAliasArn"
    ALERT_TOPIC_ARN = "alertTopicArn"
    EVENT_BUS = "eventBus"
    ALERTING_FUNCTION = "alertingFunction"
    JOB_QUEUE_ARN = "jobQueueArn"
    DRIFT_CHECK_JOB_DEFINITION_ARN = "driftCheckJobDefinitionArn"
    RETRAIN_JOB_DEFINITION_ARN = "retrainJobDefinitionArn"
    COMPACT_LAKE_JOB_DEFINITION_ARN = "compactLakeJobDefinitionArn"
    LIVE_EVALUATION_JOB_DEFINITION_ARN = "liveEvaluationJobDefinitionArn"
    LAKE_DATABASE = "lakeDatabase"
    ATHENA_WORKGROUP = "athenaWorkgroup"
    ATHENA_RESULTS_BUCKET = "athenaResultsBucket"
    JOBS_REPOSITORY_URL = "jobsRepositoryUrl"
    DASHBOARD = "dashboard"
    RELEASE_PIPELINE = "releasePipeline"
    RELEASE_BUILD_PROJECT = "releaseBuildProject"
    DASHBOARD_ACCESS_POLICY_ARN = "dashboardAccessPolicyArn"
