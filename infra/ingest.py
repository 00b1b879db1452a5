"""PayloadStream: the served model's Amazon Data Firehose delivery stream into the payload bucket.

Serving sends its payload records with `PutRecordBatch` (Direct PUT); Firehose buffers them (`ingestBufferSeconds`,
`ingestBufferMb`: whichever is reached first) and writes one GZIP-compressed JSON Lines object per buffer under the
payload layout (`core.layout.payload_stream_prefix`, `.jsonl.gz`), where the payload bucket's notification hands it
to the payload ETL like any other payload object. What Firehose could not deliver goes under `ingest-errors/`
(`core.layout.payload_stream_error_prefix`), outside the prefixes the ETL reads, and each failed delivery is logged
to the stream's own log stream.

The stream is encrypted at rest with an AWS-owned key (no key policy, no kms:* grant for the producers); the
objects get the bucket's default encryption (SSE-S3: `infra.storage`). Firehose assumes its own role, trusted for
this account only, that may write only the model's two prefixes and its log stream. Two alarms tell the alert
topic when delivery falls behind (the oldest record in the stream is much older than the buffer interval: the
alerting Lambda, which waits `ingestLagMinutes` for the records of a window, would judge incomplete windows) and
when a delivery to S3 fails.

The rules of Firehose's custom prefixes (Developer Guide, "Custom prefixes for Amazon S3 objects") are checked here
(`prefix_problems`), so a layout change that AWS would refuse fails the tests, not the deploy.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from core.layout import (
    ETL_PREFIXES,
    PAYLOAD_STREAM_FILE_EXTENSION,
    payload_stream_error_prefix,
    payload_stream_name,
    payload_stream_prefix,
)
from infra.dashboard import AlarmSpec, metric_alarm
from infra.policies import BucketKey, Statement, object_arns, policy_document
from infra.roles import service_role

FIREHOSE_SERVICE = "firehose.amazonaws.com"
DESTINATION = "extended_s3"
COMPRESSION_FORMAT = "GZIP"
TIME_ZONE = "UTC"
#: Server-side encryption of the records while Firehose holds them: an AWS-owned key needs no key policy and no
#: kms:* grant for the producers (a customer-managed key would need both, and a grant for Firehose).
STREAM_KEY_TYPE = "AWS_OWNED_CMK"
#: The log stream Firehose writes its S3 delivery errors to (in the component's own log group).
DELIVERY_LOG_STREAM = "S3Delivery"
#: Firehose's limits on the buffering hints (API reference, BufferingHints: IntervalInSeconds 0-900, SizeInMBs
#: 1-128); `infra.config` refuses other values.
BUFFER_SECONDS = range(0, 901)
BUFFER_MB = range(1, 129)
#: Firehose's limits: a stream name (1-64 of [a-zA-Z0-9_.-]), a prefix after evaluation (512 characters), a file
#: extension (API reference, ExtendedS3DestinationConfiguration.FileExtension).
STREAM_NAME = re.compile(r"^[a-zA-Z0-9_.-]{1,64}$")
MAX_EVALUATED_PREFIX = 512
FILE_EXTENSION = re.compile(r"^\.[0-9a-z!\-_.*'()]{1,127}$")
#: The namespaces a prefix may use without dynamic partitioning, and the longest value each evaluates to:
#: `!{timestamp:<Java DateTimeFormatter pattern>}` (at most as long as its pattern, give or take a month's name, which
#: the layout does not use), `!{firehose:error-output-type}` (the longest error type) and `random-string` (11).
EXPRESSION = re.compile(r"!\{(?P<namespace>[a-zA-Z]+):(?P<value>[^}]*)\}")
ERROR_OUTPUT_TYPE = "!{firehose:error-output-type}"
LONGEST_ERROR_OUTPUT_TYPE = "format-conversion-failed"
RANDOM_STRING_LENGTH = 11
#: What Firehose does in the bucket (Developer Guide, "Grant Firehose access to an Amazon S3 destination"): the
#: bucket-level actions authorise on the bucket, the object-level ones on the objects it writes.
BUCKET_ACTIONS = ("s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads")
OBJECT_ACTIONS = ("s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject")
#: With a customer-managed key on the bucket, Firehose would also need these on the key (SSE-S3 today: none).
BUCKET_KEY_ACTIONS = ("kms:Decrypt", "kms:GenerateDataKey")
#: Alarms. Firehose publishes its metrics every 5 minutes. DataFreshness is the age of the oldest record not yet in
#: S3: normally about the buffer interval; the alarm fires well above it (three intervals, at least 15 minutes).
METRIC_PERIOD_SECONDS = 300
FRESHNESS_FACTOR = 3
MIN_FRESHNESS_ALARM_SECONDS = 900


class StreamPrefixError(ValueError):
    """A prefix Firehose would refuse, or one that would put objects where the payload layout does not expect them."""


@dataclass(frozen=True, slots=True)
class PayloadStreamArgs:
    """Inputs of the PayloadStream component: `stack_prefix` names the stream (`core.layout.payload_stream_name`)."""

    stack_prefix: str
    model_name: str
    account_id: pulumi.Input[str]
    payload_bucket_arn: pulumi.Input[str]
    buffer_seconds: int
    buffer_mb: int
    log_retention_days: int
    topic_arn: pulumi.Input[str]


def _evaluated_length(prefix: str) -> int:
    """The longest a prefix can be once Firehose has evaluated its expressions."""

    def longest(match: re.Match[str]) -> str:
        namespace, value = match["namespace"], match["value"]
        if namespace == "firehose":
            return LONGEST_ERROR_OUTPUT_TYPE if value == "error-output-type" else "x" * RANDOM_STRING_LENGTH
        return "x" * len(value.replace("'", ""))

    return len(EXPRESSION.sub(longest, prefix))


def _expression_problems(name: str, prefix: str) -> list[str]:
    problems = []
    for match in EXPRESSION.finditer(prefix):
        namespace, value = match["namespace"], match["value"]
        if namespace == "timestamp" and not value:
            problems.append(f"{name} {prefix!r}: an empty timestamp pattern")
        elif namespace == "firehose" and value not in ("error-output-type", "random-string"):
            problems.append(f"{name} {prefix!r}: the firehose namespace has no {value!r}")
        elif namespace not in ("timestamp", "firehose"):
            problems.append(f"{name} {prefix!r}: namespace {namespace!r} needs dynamic partitioning, which is off")
    if "!{" in EXPRESSION.sub("", prefix):
        problems.append(f"{name} {prefix!r}: '!{{' may only start a !{{namespace:value}} expression")
    return problems


def prefix_problems(prefix: str, error_prefix: str, *, reader_prefixes: Iterable[str]) -> list[str]:
    """What Firehose (or the payload layout) would refuse in a stream's prefix and error prefix.

    Firehose's rules: `!{` only in expressions; the error prefix is required once the prefix has an expression, and
    an error prefix with expressions names `!{firehose:error-output-type}`, which the prefix may not; neither is
    longer than 512 characters once evaluated; a prefix without a `timestamp` expression gets `yyyy/MM/dd/HH/`
    appended (which would break the layout's `dt=` partition, so it is refused here). The layout's: both end in `/`
    (a key is `<prefix><stream name>-...`), the prefix lies under one of `reader_prefixes` (the ETL's) and the error
    prefix under none.
    """
    problems = [*_expression_problems("prefix", prefix), *_expression_problems("error prefix", error_prefix)]
    if "!{timestamp:" not in prefix:
        problems.append(f"prefix {prefix!r}: without a timestamp expression Firehose appends yyyy/MM/dd/HH/")
    if EXPRESSION.search(prefix) and not error_prefix:
        problems.append(f"prefix {prefix!r}: an error prefix is required when the prefix has expressions")
    if EXPRESSION.search(error_prefix) and ERROR_OUTPUT_TYPE not in error_prefix:
        problems.append(f"error prefix {error_prefix!r}: an error prefix with expressions must use {ERROR_OUTPUT_TYPE}")
    if ERROR_OUTPUT_TYPE in prefix:
        problems.append(f"prefix {prefix!r}: {ERROR_OUTPUT_TYPE} may only be used in the error prefix")
    for name, text in (("prefix", prefix), ("error prefix", error_prefix)):
        if _evaluated_length(text) > MAX_EVALUATED_PREFIX:
            problems.append(f"{name} {text!r} is longer than {MAX_EVALUATED_PREFIX} characters once evaluated")
        if not text.endswith("/") or text.startswith("/"):
            problems.append(f"{name} {text!r} must end in '/' and not start with it")
    readers = tuple(reader_prefixes)
    if not prefix.startswith(readers):
        problems.append(f"prefix {prefix!r} is not under a prefix the payload ETL reads ({', '.join(readers)})")
    if error_prefix.startswith(readers):
        problems.append(f"error prefix {error_prefix!r} is under a prefix the payload ETL reads")
    return problems


def static_prefix(prefix: str) -> str:
    """The part of a prefix before its first expression, cut back to a `/`: every key the prefix evaluates to starts
    with it (`payloads/model=churn/dt=!{timestamp:yyyy-MM-dd}/` -> `payloads/model=churn/`)."""
    head = prefix.split("!{", 1)[0]
    return head[: head.rfind("/") + 1]


def stream_name(stack_prefix: str, model_name: str) -> str:
    """The model's delivery stream (`core.layout.payload_stream_name`), checked against Firehose's naming rule."""
    name = payload_stream_name(stack_prefix, model_name)
    if not STREAM_NAME.fullmatch(name):
        raise StreamPrefixError(f"{name!r} is not a Firehose stream name (1-64 of a-z, A-Z, 0-9, '_', '.', '-')")
    return name


def firehose_policy(
    *, bucket_arn: str, object_prefixes: Sequence[str], log_stream_arn: str, bucket_key: BucketKey | None = None
) -> str:
    """Firehose's role: find and list the payload bucket, write (and clean up multipart uploads of) objects under
    `object_prefixes` only, log delivery errors to its own log stream; with `bucket_key` (a customer-managed key on
    the bucket; none today), use that key through S3 for those objects only."""
    objects = object_arns(bucket_arn, object_prefixes)
    statements = [
        # Bucket-level actions authorise on the bucket ARN: S3 has no narrower resource for them.
        Statement("FindPayloadBucket", BUCKET_ACTIONS, [bucket_arn]),
        Statement("DeliverPayloadObjects", OBJECT_ACTIONS, objects),
        Statement("LogDeliveryErrors", ["logs:PutLogEvents"], [log_stream_arn]),
    ]
    if bucket_key is not None:
        statements.append(bucket_key.statement("EncryptPayloadObjects", BUCKET_KEY_ACTIONS, objects))
    return policy_document(statements)


def freshness_alarm_seconds(buffer_seconds: int) -> int:
    """The DataFreshness above which delivery is behind: three buffer intervals, and at least 15 minutes."""
    return max(MIN_FRESHNESS_ALARM_SECONDS, FRESHNESS_FACTOR * buffer_seconds)


def stream_alarm_specs(stream: pulumi.Input[str], buffer_seconds: int) -> list[AlarmSpec]:
    """The stream's alarms: delivery behind (DataFreshness) and failed S3 deliveries (DeliveryToS3.Success < 1).

    Firehose publishes neither metric without traffic: missing data is no delivery to be late or to fail.
    """
    dimensions = {"DeliveryStreamName": stream}
    threshold = freshness_alarm_seconds(buffer_seconds)
    return [
        AlarmSpec(
            "freshness",
            f"Payload records wait in Firehose more than {threshold} s (buffer {buffer_seconds} s): delivery to S3 "
            "is behind, and the alerting Lambda judges windows whose records have not arrived (see the runbook)",
            "AWS/Firehose",
            "DeliveryToS3.DataFreshness",
            dimensions,
            "Maximum",
            METRIC_PERIOD_SECONDS,
            "GreaterThanThreshold",
            threshold,
            "notBreaching",
        ),
        AlarmSpec(
            "delivery-failures",
            "Firehose failed to put payload objects into S3 (it retries; records it gives up on go to "
            "ingest-errors/; the delivery errors are in its log group)",
            "AWS/Firehose",
            "DeliveryToS3.Success",
            dimensions,
            "Minimum",
            METRIC_PERIOD_SECONDS,
            "LessThanThreshold",
            1,
            "notBreaching",
        ),
    ]


class PayloadStream(pulumi.ComponentResource):
    """The delivery stream, its role, its log group and log stream, and its alarms."""

    stream: aws.kinesis.FirehoseDeliveryStream
    log_group: aws.cloudwatch.LogGroup
    alarms: dict[str, aws.cloudwatch.MetricAlarm]

    def __init__(self, name: str, args: PayloadStreamArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("autoretrain:ingest:PayloadStream", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        prefix = payload_stream_prefix(args.model_name)
        error_prefix = payload_stream_error_prefix(args.model_name)
        problems = prefix_problems(prefix, error_prefix, reader_prefixes=ETL_PREFIXES)
        if problems:
            raise StreamPrefixError("; ".join(problems))
        self.log_group = aws.cloudwatch.LogGroup(f"{name}-logs", retention_in_days=args.log_retention_days, opts=child)
        log_stream = aws.cloudwatch.LogStream(
            f"{name}-delivery-log", name=DELIVERY_LOG_STREAM, log_group_name=self.log_group.name, opts=child
        )
        role = service_role(
            name,
            FIREHOSE_SERVICE,
            pulumi.Output.all(args.payload_bucket_arn, log_stream.arn).apply(
                lambda arns: firehose_policy(
                    bucket_arn=arns[0],
                    object_prefixes=[static_prefix(prefix), static_prefix(error_prefix)],
                    log_stream_arn=arns[1],
                )
            ),
            parent=self,
            external_id=args.account_id,
        )
        self.stream = aws.kinesis.FirehoseDeliveryStream(
            f"{name}-stream",
            name=stream_name(args.stack_prefix, args.model_name),
            destination=DESTINATION,
            server_side_encryption={"enabled": True, "key_type": STREAM_KEY_TYPE},
            extended_s3_configuration={
                "bucket_arn": args.payload_bucket_arn,
                "role_arn": role.role.arn,
                "prefix": prefix,
                "error_output_prefix": error_prefix,
                "file_extension": PAYLOAD_STREAM_FILE_EXTENSION,
                "compression_format": COMPRESSION_FORMAT,
                # The `dt=` partition is a UTC day, as everywhere in the layout (Firehose's default, stated).
                "custom_time_zone": TIME_ZONE,
                "buffering_interval": args.buffer_seconds,
                "buffering_size": args.buffer_mb,
                "cloudwatch_logging_options": {
                    "enabled": True,
                    "log_group_name": self.log_group.name,
                    "log_stream_name": log_stream.name,
                },
            },
            # Firehose checks on creation that it can assume the role and write: the policy must exist first. The name
            # is fixed (the layout's), so a change AWS can only make by replacing the stream must delete it first.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[role.policy], delete_before_replace=True),
        )
        self.alarms = {
            spec.key: metric_alarm(f"{name}-{spec.key}", spec, args.topic_arn, self)
            for spec in stream_alarm_specs(self.stream.name, args.buffer_seconds)
        }
        self.register_outputs({"stream": self.stream.name, "stream_arn": self.stream.arn})


def ingest_lag_floor_minutes(buffer_seconds: int) -> int:
    """The least ingest lag (`ingestLagMinutes`) that covers a buffer interval and a minute for the ETL."""
    return math.ceil(buffer_seconds / 60) + 1
