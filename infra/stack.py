"""The composition root's body: one provider, the components wired together, the named outputs.

`build` creates resources only when called (never at import), so tests and `autoretrain plan` run it under mocks.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra.config import Settings
from infra.outputs import StackOutput
from infra.payload_etl import PayloadEtl, PayloadEtlArgs
from infra.serving import Serving, ServingArgs
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
    etl = PayloadEtl(
        f"{PROJECT}-etl",
        PayloadEtlArgs(
            payload_bucket_name=storage.payload_bucket.bucket,
            payload_bucket_arn=storage.payload_bucket.arn,
            payload_table_name=storage.payload_table.name,
            payload_table_arn=storage.payload_table.arn,
            account_id=account_id,
            model_name=settings.model_name,
            payload_retention_days=settings.payload_retention_days,
            log_retention_days=settings.log_retention_days,
        ),
        with_provider,
    )
    serving = Serving(
        f"{PROJECT}-serving",
        ServingArgs(
            payload_bucket_name=storage.payload_bucket.bucket,
            payload_bucket_arn=storage.payload_bucket.arn,
            model_name=settings.model_name,
            memory_mb=settings.serving_memory_mb,
            keep_images=settings.serving_keep_images,
            log_retention_days=settings.log_retention_days,
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
        StackOutput.SERVING_REPOSITORY_URL: serving.repository.repository_url,
        StackOutput.SERVING_FUNCTION: serving.function.name,
        StackOutput.SERVING_ALIAS_ARN: serving.alias.arn,
    }
    for name, value in outputs.items():
        pulumi.export(name.value, value)
