"""BatchJobs: the drift-check and retrain jobs on AWS Batch with Fargate.

Network: the configured subnets and security groups, or a minimal VPC of its own (two public subnets in two
zones, an internet gateway, no NAT; tasks get a public IP to reach AWS APIs, and a security group with no ingress
and only HTTPS out). S3 and DynamoDB gateway endpoints (free) keep the jobs' bulk traffic inside the VPC.

The jobs image is built from `batch_jobs/Dockerfile` at `pulumi up` and tagged by its content; both job
definitions run it with their own command, job role and the shared execution role (image pull, logs).
Commands take `Ref::` parameters that every submitter fills: the schedules pass the scheduled time as `now`, the
RetrainRequested rule passes the event's trigger, reason and request time (see `JOB_PARAMETERS`).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_docker_build as docker_build

from core.layout import release_object_key, training_prefix
from core.routing import Target
from core.settings import EnvVar
from core.tables import BY_STATUS_INDEX, BY_TIME_INDEX
from infra.fargate import FargateResources, fargate_resources
from infra.images import REPO_ROOT, content_tag, image_uri_by_digest, private_repository, pushed_image
from infra.policies import (
    Statement,
    any_resource_statement,
    assume_role_policy,
    log_statement,
    object_arns,
    policy_document,
    table_and_index_arns,
)

DOCKERFILE = "batch_jobs/Dockerfile"
IMAGE_TAG_PREFIX = "jobs-"
PLATFORM = docker_build.Platform.LINUX_AMD64
CPU_ARCHITECTURE = "X86_64"
TASK_SERVICE = "ecs-tasks.amazonaws.com"
VPC_CIDR = "10.42.0.0/16"
SUBNET_CIDRS = ("10.42.0.0/20", "10.42.16.0/20")
HTTPS_PORT = 443
#: Attempts per job: one retry for transient failures (a lost Fargate task, a throttled API). The jobs are
#: idempotent: a retry with the same parameters finishes what the failed attempt left undone.
JOB_ATTEMPTS = 2
#: Exit code 2 is a bad argument (argparse): retrying cannot help.
NO_RETRY_EXIT_CODE = "2"
METRIC_NAMESPACE = "autoretrain"
#: What the drift-check job does with the payload table: read labels by key, keep its drift state (Get/PutItem).
DRIFT_PAYLOAD_ACTIONS = ("dynamodb:BatchGetItem", "dynamodb:GetItem", "dynamodb:PutItem")
#: Registry writes of the retrain job; TransactWriteItems authorises each item with these per-item actions.
REGISTRY_WRITE_ACTIONS = ("dynamodb:ConditionCheckItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem")
ECR_PULL_ACTIONS = ("ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer")


class Job(StrEnum):
    """The two jobs; the values name their resources and log streams."""

    DRIFT_CHECK = "drift-check"
    RETRAIN = "retrain"


#: Routing's targets that are Batch jobs.
JOB_OF_TARGET = {Target.DRIFT_CHECK_JOB: Job.DRIFT_CHECK, Target.RETRAIN_JOB: Job.RETRAIN}


@dataclass(frozen=True, slots=True)
class JobSpec:
    """A job's command (after the image's `python` entry point) and its parameters' defaults."""

    module: str
    arguments: tuple[str, ...]
    default_parameters: Mapping[str, str]

    @property
    def command(self) -> list[str]:
        """The container command: `-m <module> <arguments>` (the image's ENTRYPOINT is `python`)."""
        return ["-m", self.module, *self.arguments]


JOB_SPECS: dict[Job, JobSpec] = {
    Job.DRIFT_CHECK: JobSpec("batch_jobs.drift_check", ("--now", "Ref::now"), {}),
    Job.RETRAIN: JobSpec(
        "batch_jobs.retrain",
        ("--trigger", "Ref::trigger", "--reason", "Ref::reason", "--now", "Ref::now"),
        {"trigger": "on_demand", "reason": "submitted by hand"},
    ),
}


def referenced_parameters(command: Sequence[str]) -> set[str]:
    """The `Ref::name` placeholders of a command."""
    return {word.removeprefix("Ref::") for word in command if word.startswith("Ref::")}


def parameters_to_supply(job: Job) -> set[str]:
    """The placeholders that have no default: every submitter of the job must supply them."""
    spec = JOB_SPECS[job]
    return referenced_parameters(spec.command) - set(spec.default_parameters)


@dataclass(frozen=True, slots=True)
class NetworkArgs:
    """Where the jobs run: configured subnets and security groups, or empty for a VPC of the stack's own."""

    subnet_ids: Sequence[str]
    security_group_ids: Sequence[str]
    assign_public_ip: bool


@dataclass(frozen=True, slots=True)
class BatchJobsArgs:
    """Inputs of the BatchJobs component."""

    model_name: str
    region: str
    payload_bucket_name: pulumi.Input[str]
    payload_bucket_arn: pulumi.Input[str]
    model_bucket_name: pulumi.Input[str]
    model_bucket_arn: pulumi.Input[str]
    payload_table_name: pulumi.Input[str]
    payload_table_arn: pulumi.Input[str]
    registry_table_name: pulumi.Input[str]
    registry_table_arn: pulumi.Input[str]
    event_bus_name: pulumi.Input[str]
    event_bus_arn: pulumi.Input[str]
    network: NetworkArgs
    max_vcpus: int
    job_vcpu: float
    job_memory_mib: int
    timeout_minutes: int
    keep_images: int
    log_retention_days: int


def job_environment(
    job: Job,
    *,
    payload_bucket: str,
    model_bucket: str,
    payload_table: str,
    registry_table: str,
    event_bus: str,
    model_name: str,
    code_version: str,
) -> dict[str, str]:
    """The deployment contract's variables each job reads (core.settings DriftCheckSettings/RetrainSettings)."""
    common = {
        EnvVar.MODEL_BUCKET.value: model_bucket,
        EnvVar.PAYLOAD_TABLE.value: payload_table,
        EnvVar.REGISTRY_TABLE.value: registry_table,
        EnvVar.EVENT_BUS.value: event_bus,
        EnvVar.MODEL_NAME.value: model_name,
    }
    if job is Job.RETRAIN:
        # The image's content tag is the code's version: the job needs no git checkout to record lineage.
        return {**common, EnvVar.PAYLOAD_BUCKET.value: payload_bucket, EnvVar.CODE_VERSION.value: code_version}
    return common


def container_properties(
    *,
    image: str,
    spec: JobSpec,
    job_role_arn: str,
    execution_role_arn: str,
    resources: FargateResources,
    environment: Mapping[str, str],
    log_group: str,
    region: str,
    stream_prefix: str,
    assign_public_ip: bool,
) -> str:
    """A Fargate job definition's `containerProperties` as JSON."""
    properties: dict[str, Any] = {
        "image": image,
        "command": spec.command,
        "jobRoleArn": job_role_arn,
        "executionRoleArn": execution_role_arn,
        "resourceRequirements": resources.to_json(),
        "environment": [{"name": name, "value": value} for name, value in sorted(environment.items())],
        "fargatePlatformConfiguration": {"platformVersion": "LATEST"},
        "runtimePlatform": {"operatingSystemFamily": "LINUX", "cpuArchitecture": CPU_ARCHITECTURE},
        # Public subnets without NAT: the task needs a public IP to reach ECR, CloudWatch Logs and the AWS APIs.
        "networkConfiguration": {"assignPublicIp": "ENABLED" if assign_public_ip else "DISABLED"},
        "logConfiguration": {
            "logDriver": "awslogs",
            "options": {"awslogs-group": log_group, "awslogs-region": region, "awslogs-stream-prefix": stream_prefix},
        },
    }
    return json.dumps(properties, sort_keys=True)


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


def drift_check_job_policy(
    *,
    model_name: str,
    model_bucket_arn: str,
    payload_table_arn: str,
    registry_table_arn: str,
    event_bus_arn: str,
) -> str:
    """The drift-check job: read the champion's files and the payload window, keep its state, write the report,
    publish metrics in our namespace and events on our bus."""
    return policy_document(
        [
            Statement("ReadChampionFiles", ["s3:GetObject"], object_arns(model_bucket_arn, [f"models/{model_name}/"])),
            # Without ListBucket a missing object reads as AccessDenied; with it, as NoSuchKey (a clear error).
            Statement("TellMissingObjects", ["s3:ListBucket"], [model_bucket_arn]),
            Statement("WriteReports", ["s3:PutObject"], object_arns(model_bucket_arn, [f"reports/{model_name}/"])),
            Statement("QueryPayloadWindow", ["dynamodb:Query"], table_and_index_arns(payload_table_arn, BY_TIME_INDEX)),
            Statement("ReadLabelsKeepDriftState", DRIFT_PAYLOAD_ACTIONS, [payload_table_arn]),
            Statement(
                "ReadRegistry",
                ["dynamodb:GetItem", "dynamodb:Query"],
                table_and_index_arns(registry_table_arn, BY_STATUS_INDEX),
            ),
            # AWS requires "*" for PutMetricData (metrics have no ARN); the namespace condition scopes it.
            any_resource_statement(
                "PublishDriftMetrics",
                ["cloudwatch:PutMetricData"],
                {"StringEquals": {"cloudwatch:namespace": METRIC_NAMESPACE}},
            ),
            Statement("PublishEvents", ["events:PutEvents"], [event_bus_arn]),
        ]
    )


def retrain_job_policy(
    *,
    model_name: str,
    payload_bucket_arn: str,
    model_bucket_arn: str,
    payload_table_arn: str,
    registry_table_arn: str,
    event_bus_arn: str,
) -> str:
    """The retrain job: read the initial training set and matured payloads, read the champion and write new
    versions and the release object, record versions in the registry, publish events."""
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
            Statement("PublishEvents", ["events:PutEvents"], [event_bus_arn]),
        ]
    )


def egress_only_rules() -> list[aws.ec2.SecurityGroupEgressArgsDict]:
    """The jobs' security group: HTTPS out (AWS APIs, ECR), nothing in."""
    return [
        {
            "description": "HTTPS to AWS APIs and ECR",
            "protocol": "tcp",
            "from_port": HTTPS_PORT,
            "to_port": HTTPS_PORT,
            "cidr_blocks": ["0.0.0.0/0"],
        }
    ]


class BatchJobs(pulumi.ComponentResource):
    """Network (or the configured one), compute environment, queue, jobs image and the two job definitions."""

    queue: aws.batch.JobQueue
    repository: aws.ecr.Repository
    definitions: dict[Job, aws.batch.JobDefinition]
    log_group: aws.cloudwatch.LogGroup

    def __init__(self, name: str, args: BatchJobsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("autoretrain:batch:BatchJobs", name, None, opts)
        self._name = name
        child = pulumi.ResourceOptions(parent=self)
        resources = fargate_resources(args.job_vcpu, args.job_memory_mib)
        subnets, security_groups = self._network(args.network, args.region)
        compute = aws.batch.ComputeEnvironment(
            f"{name}-compute",
            type="MANAGED",
            compute_resources={
                "type": "FARGATE",
                "max_vcpus": args.max_vcpus,
                "subnets": subnets,
                "security_group_ids": security_groups,
            },
            opts=child,
        )
        self.queue = aws.batch.JobQueue(
            f"{name}-queue",
            state="ENABLED",
            priority=1,
            compute_environment_orders=[{"order": 1, "compute_environment": compute.arn}],
            opts=child,
        )
        self.repository = private_repository(f"{name}-repository", args.keep_images, self)
        code_version = content_tag(REPO_ROOT, DOCKERFILE, IMAGE_TAG_PREFIX)
        image = pushed_image(
            f"{name}-image",
            repository=self.repository,
            dockerfile_path=DOCKERFILE,
            tag=code_version,
            platform=PLATFORM,
            parent=self,
        )
        self.log_group = aws.cloudwatch.LogGroup(f"{name}-logs", retention_in_days=args.log_retention_days, opts=child)
        execution_role = aws.iam.Role(
            f"{name}-execution-role", assume_role_policy=assume_role_policy(TASK_SERVICE), opts=child
        )
        execution_policy = aws.iam.RolePolicy(
            f"{name}-execution-policy",
            role=execution_role.id,
            policy=pulumi.Output.all(self.repository.arn, self.log_group.arn).apply(
                lambda arns: execution_role_policy(repository_arn=arns[0], log_group_arn=arns[1])
            ),
            opts=child,
        )
        image_uri = pulumi.Output.all(self.repository.repository_url, image.digest).apply(
            lambda parts: image_uri_by_digest(parts[0], parts[1])
        )
        self.definitions = {}
        for job in Job:
            role, policy = self._job_role(job, args)
            environment = pulumi.Output.all(
                args.payload_bucket_name,
                args.model_bucket_name,
                args.payload_table_name,
                args.registry_table_name,
                args.event_bus_name,
            ).apply(functools.partial(_environment_of, job, args.model_name, code_version))
            properties = pulumi.Output.all(
                image_uri, role.arn, execution_role.arn, environment, self.log_group.name
            ).apply(functools.partial(_properties_of, job, resources, args))
            self.definitions[job] = aws.batch.JobDefinition(
                f"{name}-{job.value}",
                type="container",
                platform_capabilities=["FARGATE"],
                container_properties=properties,
                parameters=dict(JOB_SPECS[job].default_parameters),
                retry_strategy={
                    "attempts": JOB_ATTEMPTS,
                    "evaluate_on_exits": [{"on_exit_code": NO_RETRY_EXIT_CODE, "action": "EXIT"}],
                },
                timeout={"attempt_duration_seconds": args.timeout_minutes * 60},
                propagate_tags=True,
                # Jobs must not start before their roles may do their work.
                opts=pulumi.ResourceOptions(parent=self, depends_on=[policy, execution_policy]),
            )
        self.register_outputs(
            {
                "queue_arn": self.queue.arn,
                "repository_url": self.repository.repository_url,
                **{f"{job.name.lower()}_definition_arn": self.definitions[job].arn for job in Job},
            }
        )

    def _job_role(self, job: Job, args: BatchJobsArgs) -> tuple[aws.iam.Role, aws.iam.RolePolicy]:
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{self._name}-{job.value}-role", assume_role_policy=assume_role_policy(TASK_SERVICE), opts=child
        )
        arns = pulumi.Output.all(
            args.payload_bucket_arn,
            args.model_bucket_arn,
            args.payload_table_arn,
            args.registry_table_arn,
            args.event_bus_arn,
        )
        if job is Job.DRIFT_CHECK:
            document = arns.apply(
                lambda values: drift_check_job_policy(
                    model_name=args.model_name,
                    model_bucket_arn=values[1],
                    payload_table_arn=values[2],
                    registry_table_arn=values[3],
                    event_bus_arn=values[4],
                )
            )
        else:
            document = arns.apply(
                lambda values: retrain_job_policy(
                    model_name=args.model_name,
                    payload_bucket_arn=values[0],
                    model_bucket_arn=values[1],
                    payload_table_arn=values[2],
                    registry_table_arn=values[3],
                    event_bus_arn=values[4],
                )
            )
        policy = aws.iam.RolePolicy(f"{self._name}-{job.value}-policy", role=role.id, policy=document, opts=child)
        return role, policy

    def _network(self, network: NetworkArgs, region: str) -> tuple[list[pulumi.Input[str]], list[pulumi.Input[str]]]:
        if network.subnet_ids:
            return list(network.subnet_ids), list(network.security_group_ids)
        child = pulumi.ResourceOptions(parent=self)
        name = self._name
        vpc = aws.ec2.Vpc(
            f"{name}-vpc", cidr_block=VPC_CIDR, enable_dns_support=True, enable_dns_hostnames=True, opts=child
        )
        gateway = aws.ec2.InternetGateway(f"{name}-igw", vpc_id=vpc.id, opts=child)
        routes = aws.ec2.RouteTable(
            f"{name}-routes",
            vpc_id=vpc.id,
            routes=[{"cidr_block": "0.0.0.0/0", "gateway_id": gateway.id}],
            opts=child,
        )
        zones = aws.get_availability_zones_output(state="available", opts=pulumi.InvokeOutputOptions(parent=self))
        subnets: list[pulumi.Input[str]] = []
        for index, cidr in enumerate(SUBNET_CIDRS):
            subnet = aws.ec2.Subnet(
                f"{name}-subnet-{index}",
                vpc_id=vpc.id,
                cidr_block=cidr,
                availability_zone=zones.names.apply(functools.partial(_zone, index)),
                map_public_ip_on_launch=True,
                opts=child,
            )
            aws.ec2.RouteTableAssociation(
                f"{name}-subnet-{index}-routes", subnet_id=subnet.id, route_table_id=routes.id, opts=child
            )
            subnets.append(subnet.id)
        for service in ("s3", "dynamodb"):
            aws.ec2.VpcEndpoint(
                f"{name}-{service}-endpoint",
                vpc_id=vpc.id,
                service_name=f"com.amazonaws.{region}.{service}",
                vpc_endpoint_type="Gateway",
                route_table_ids=[routes.id],
                opts=child,
            )
        group = aws.ec2.SecurityGroup(
            f"{name}-jobs-sg",
            description="autoretrain Batch jobs: no inbound traffic, HTTPS out",
            vpc_id=vpc.id,
            ingress=[],
            egress=egress_only_rules(),
            opts=child,
        )
        return subnets, [group.id]


def _zone(index: int, names: Sequence[str]) -> str:
    return names[index]


def _environment_of(job: Job, model_name: str, code_version: str, values: Sequence[str]) -> dict[str, str]:
    return job_environment(
        job,
        payload_bucket=values[0],
        model_bucket=values[1],
        payload_table=values[2],
        registry_table=values[3],
        event_bus=values[4],
        model_name=model_name,
        code_version=code_version,
    )


def _properties_of(job: Job, resources: FargateResources, args: BatchJobsArgs, values: Sequence[Any]) -> str:
    return container_properties(
        image=values[0],
        spec=JOB_SPECS[job],
        job_role_arn=values[1],
        execution_role_arn=values[2],
        resources=resources,
        environment=values[3],
        log_group=values[4],
        region=args.region,
        stream_prefix=job.value,
        assign_public_ip=args.network.assign_public_ip,
    )
