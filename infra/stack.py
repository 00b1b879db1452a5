"""The composition root's body: one provider, the components wired together, the named outputs.

`build` creates resources only when called (never at import), so tests and `autoretrain plan` run it under mocks.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra.alert_topic import AlertTopic, AlertTopicArgs
from infra.alerting import Alerting, AlertingArgs, AlertWindow
from infra.batch import BatchJobs, BatchJobsArgs
from infra.config import Settings, schedule_config_keys
from infra.dashboard import SERVING_FUNCTION, Dashboard, DashboardArgs
from infra.dashboard_access import DashboardAccess, DashboardAccessArgs
from infra.events import EventBus, EventBusArgs, EventRules, EventRulesArgs
from infra.ingest import PayloadStream, PayloadStreamArgs
from infra.job_specs import Job
from infra.lake import PayloadLake, PayloadLakeArgs, lake_database_name
from infra.network import NetworkArgs
from infra.outputs import StackOutput
from infra.payload_etl import PayloadEtl, PayloadEtlArgs
from infra.release import Canary, ReleasePipeline, ReleasePipelineArgs
from infra.schedules import Schedules, SchedulesArgs
from infra.serving import ALIAS_NAME, Serving, ServingArgs
from infra.storage import Retention, Storage, StorageArgs

PROJECT = "autoretrain"


def build(settings: Settings) -> None:
    """Declare the whole stack for these settings and export its outputs."""
    # Explicit provider: every resource gets the same region and tags; no resource can fall back to ambient config.
    provider = aws.Provider(PROJECT, region=settings.region, default_tags={"tags": settings.default_tags})
    with_provider = pulumi.ResourceOptions(providers=[provider])
    account_id = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(provider=provider)).account_id

    storage = Storage(
        PROJECT,
        StorageArgs(
            retention=Retention(
                objects=settings.object_retention_days,
                quarantine=settings.quarantine_retention_days,
                noncurrent_versions=settings.noncurrent_version_days,
            ),
            deletion_protection=settings.deletion_protection,
        ),
        with_provider,
    )
    lake = PayloadLake(
        f"{PROJECT}-lake",
        PayloadLakeArgs(
            payload_bucket_name=storage.payload_bucket.bucket,
            account_id=account_id,
            database_name=lake_database_name(PROJECT, settings.model_name, pulumi.get_stack()),
            bytes_scanned_cutoff=settings.athena_bytes_scanned_cutoff,
        ),
        with_provider,
    )
    etl = PayloadEtl(
        f"{PROJECT}-etl",
        PayloadEtlArgs(
            payload_bucket_name=storage.payload_bucket.bucket,
            payload_bucket_arn=storage.payload_bucket.arn,
            payload_table_name=storage.payload_table.name,
            payload_table_arn=storage.payload_table.arn,
            model_bucket_name=storage.model_bucket.bucket,
            model_bucket_arn=storage.model_bucket.arn,
            lake_database_name=lake.database.name,
            account_id=account_id,
            region=settings.region,
            model_name=settings.model_name,
            payload_retention_days=settings.payload_retention_days,
            log_retention_days=settings.log_retention_days,
            aws_sdk_pandas_layer_version=settings.aws_sdk_pandas_layer_version,
        ),
        with_provider,
    )
    # Logical names (-alerts, -events, -monitoring) are kept from before the classes were renamed: a new name would
    # replace every resource of the component in a deployed stack (the type aliases cover only the class renames).
    alerts = AlertTopic(
        f"{PROJECT}-alerts",
        AlertTopicArgs(
            account_id=account_id,
            region=settings.region,
            emails=settings.alert_emails,
            phone_numbers=settings.alert_phone_numbers,
        ),
        with_provider,
    )
    payload_stream = PayloadStream(
        f"{PROJECT}-ingest",
        PayloadStreamArgs(
            stack_prefix=f"{PROJECT}-{pulumi.get_stack()}",
            model_name=settings.model_name,
            account_id=account_id,
            payload_bucket_arn=storage.payload_bucket.arn,
            buffer_seconds=settings.ingest_buffer_seconds,
            buffer_mb=settings.ingest_buffer_mb,
            log_retention_days=settings.log_retention_days,
            topic_arn=alerts.topic.arn,
        ),
        with_provider,
    )
    serving = Serving(
        f"{PROJECT}-serving",
        ServingArgs(
            payload_stream_name=payload_stream.stream.name,
            payload_stream_arn=payload_stream.stream.arn,
            model_name=settings.model_name,
            memory_mb=settings.serving_memory_mb,
            keep_images=settings.serving_keep_images,
            log_retention_days=settings.log_retention_days,
            control_share=settings.control_share,
            client_id_feature=settings.client_id_feature,
            shadow_enabled=settings.shadow_enabled,
        ),
        with_provider,
    )
    bus = EventBus(f"{PROJECT}-events", EventBusArgs(), with_provider).bus
    jobs = BatchJobs(
        f"{PROJECT}-jobs",
        BatchJobsArgs(
            model_name=settings.model_name,
            region=settings.region,
            payload_bucket_name=storage.payload_bucket.bucket,
            payload_bucket_arn=storage.payload_bucket.arn,
            model_bucket_name=storage.model_bucket.bucket,
            model_bucket_arn=storage.model_bucket.arn,
            payload_table_name=storage.payload_table.name,
            payload_table_arn=storage.payload_table.arn,
            registry_table_name=storage.registry_table.name,
            registry_table_arn=storage.registry_table.arn,
            event_bus_name=bus.name,
            event_bus_arn=bus.arn,
            account_id=account_id,
            lake_database_name=lake.database.name,
            athena_workgroup_name=lake.workgroup.name,
            athena_workgroup_arn=lake.workgroup.arn,
            athena_results_bucket_arn=lake.results_bucket.arn,
            lake_sample_rows=settings.lake_sample_rows,
            network=NetworkArgs(
                subnet_ids=settings.subnet_ids,
                security_group_ids=settings.security_group_ids,
                assign_public_ip=settings.assign_public_ip,
            ),
            max_vcpus=settings.batch_max_vcpus,
            job_vcpu=settings.job_vcpu,
            job_memory_mib=settings.job_memory_mib,
            timeout_minutes=settings.job_timeout_minutes,
            keep_images=settings.serving_keep_images,
            log_retention_days=settings.log_retention_days,
            incremental_retrain=settings.incremental_retrain,
            feature_metrics=settings.feature_metrics,
            tuning=settings.job_tuning(),
        ),
        with_provider,
    )
    EventRules(
        f"{PROJECT}-rules",
        EventRulesArgs(
            bus_name=bus.name,
            topic_arn=alerts.topic.arn,
            job_queue_arn=jobs.queue.arn,
            retrain_definition_arn=jobs.definitions[Job.RETRAIN].arn,
        ),
        with_provider,
    )
    alerting = Alerting(
        f"{PROJECT}-alerting",
        AlertingArgs(
            payload_bucket_name=storage.payload_bucket.bucket,
            model_bucket_arn=storage.model_bucket.arn,
            payload_table_name=storage.payload_table.name,
            payload_table_arn=storage.payload_table.arn,
            registry_table_name=storage.registry_table.name,
            registry_table_arn=storage.registry_table.arn,
            topic_arn=alerts.topic.arn,
            key_arn=alerts.key.arn,
            event_bus_name=bus.name,
            event_bus_arn=bus.arn,
            model_name=settings.model_name,
            runbook_url=settings.runbook_url,
            log_retention_days=settings.log_retention_days,
            window=AlertWindow(
                minutes=settings.alert_window_minutes,
                max_minutes=settings.alert_max_window_minutes,
                ingest_lag_minutes=settings.ingest_lag_minutes,
            ),
        ),
        with_provider,
    )
    Schedules(
        f"{PROJECT}-schedules",
        SchedulesArgs(
            account_id=account_id,
            expressions={key: settings.schedule_expression(key) for key in schedule_config_keys()},
            alerting_function_arn=alerting.function.arn,
            job_queue_arn=jobs.queue.arn,
            definition_arns={job: definition.arn for job, definition in jobs.definitions.items()},
        ),
        with_provider,
    )
    dashboard = Dashboard(
        f"{PROJECT}-monitoring",
        DashboardArgs(
            region=settings.region,
            model_name=settings.model_name,
            functions={
                "etl": etl.function.name,
                SERVING_FUNCTION: serving.function.name,
                "alerting": alerting.function.name,
            },
            etl_failure_queue_name=etl.failure_queue.name,
            payload_stream_name=payload_stream.stream.name,
            topic_arn=alerts.topic.arn,
            auc_floor=settings.auc_alarm_floor,
        ),
        with_provider,
    )
    release = ReleasePipeline(
        f"{PROJECT}-release",
        ReleasePipelineArgs(
            account_id=account_id,
            model_name=settings.model_name,
            model_bucket_name=storage.model_bucket.bucket,
            model_bucket_arn=storage.model_bucket.arn,
            artifact_bucket_name=storage.artifact_bucket.bucket,
            artifact_bucket_arn=storage.artifact_bucket.arn,
            registry_table_name=storage.registry_table.name,
            registry_table_arn=storage.registry_table.arn,
            event_bus_name=bus.name,
            event_bus_arn=bus.arn,
            repository_url=serving.repository.repository_url,
            repository_arn=serving.repository.arn,
            function_name=serving.function.name,
            function_arn=serving.function.arn,
            alias=ALIAS_NAME,
            log_retention_days=settings.log_retention_days,
            canary=Canary(percent=settings.canary_percent, minutes=settings.canary_minutes),
            deploy_alarm_names=[alarm.name for alarm in dashboard.deploy_alarms],
            deploy_alarm_arns=[alarm.arn for alarm in dashboard.deploy_alarms],
        ),
        with_provider,
    )
    dashboard_access = DashboardAccess(
        f"{PROJECT}-dashboard-access",
        DashboardAccessArgs(
            model_name=settings.model_name,
            region=settings.region,
            account_id=account_id,
            registry_table_arn=storage.registry_table.arn,
            model_bucket_arn=storage.model_bucket.arn,
            payload_bucket_arn=storage.payload_bucket.arn,
            lake_database_name=lake.database.name,
        ),
        with_provider,
    )

    outputs: dict[StackOutput, pulumi.Output[str]] = {
        StackOutput.PAYLOAD_BUCKET: storage.payload_bucket.bucket,
        StackOutput.MODEL_BUCKET: storage.model_bucket.bucket,
        StackOutput.ARTIFACT_BUCKET: storage.artifact_bucket.bucket,
        StackOutput.PAYLOAD_TABLE: storage.payload_table.name,
        StackOutput.REGISTRY_TABLE: storage.registry_table.name,
        StackOutput.PAYLOAD_ETL_FUNCTION: etl.function.name,
        StackOutput.PAYLOAD_ETL_FAILURE_QUEUE: etl.failure_queue.url,
        StackOutput.PAYLOAD_STREAM: payload_stream.stream.name,
        StackOutput.SERVING_REPOSITORY_URL: serving.repository.repository_url,
        StackOutput.SERVING_FUNCTION: serving.function.name,
        StackOutput.SERVING_ALIAS_ARN: serving.alias.arn,
        StackOutput.ALERT_TOPIC_ARN: alerts.topic.arn,
        StackOutput.EVENT_BUS: bus.name,
        StackOutput.ALERTING_FUNCTION: alerting.function.name,
        StackOutput.JOB_QUEUE_ARN: jobs.queue.arn,
        StackOutput.DRIFT_CHECK_JOB_DEFINITION_ARN: jobs.definitions[Job.DRIFT_CHECK].arn,
        StackOutput.RETRAIN_JOB_DEFINITION_ARN: jobs.definitions[Job.RETRAIN].arn,
        StackOutput.COMPACT_LAKE_JOB_DEFINITION_ARN: jobs.definitions[Job.COMPACT_LAKE].arn,
        StackOutput.LIVE_EVALUATION_JOB_DEFINITION_ARN: jobs.definitions[Job.LIVE_EVALUATION].arn,
        StackOutput.LAKE_DATABASE: lake.database.name,
        StackOutput.ATHENA_WORKGROUP: lake.workgroup.name,
        StackOutput.ATHENA_RESULTS_BUCKET: lake.results_bucket.bucket,
        StackOutput.JOBS_REPOSITORY_URL: jobs.repository.repository_url,
        StackOutput.DASHBOARD: dashboard.dashboard.dashboard_name,
        StackOutput.RELEASE_PIPELINE: release.pipeline.name,
        StackOutput.RELEASE_BUILD_PROJECT: release.project.name,
        StackOutput.DASHBOARD_ACCESS_POLICY_ARN: dashboard_access.policy.arn,
    }
    for name, value in outputs.items():
        pulumi.export(name.value, value)
