"""S3 bucket definitions shared by infra and the emulator provisioning."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BucketSpec:
    """What both infra and the emulator need to know about a bucket."""

    logical_name: str
    versioned: bool
    purpose: str


PAYLOAD_BUCKET = BucketSpec(
    "payloads", versioned=False, purpose="prediction payloads, labels, quarantine and the initial training set"
)
MODEL_BUCKET = BucketSpec(
    "models", versioned=True, purpose="model artefacts, drift reports and the release object CodePipeline watches"
)
ARTIFACT_BUCKET = BucketSpec("pipeline-artifacts", versioned=True, purpose="CodePipeline's artifact store")

ALL_BUCKETS = (PAYLOAD_BUCKET, MODEL_BUCKET, ARTIFACT_BUCKET)
