"""BatchJobs: the drift-check, retrain and lake-compaction jobs on AWS Batch with Fargate.

A managed Fargate compute environment in the jobs' network (`infra.network`) and its queue; the jobs image
(`infra.jobs_image`); one job definition per job (`infra.job_specs`) running that image with its own command and
job role, and the shared execution role (image pull, logs). The roles' policy documents are in
`infra.job_policies`.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.fargate import FargateResources, fargate_resources
from infra.job_policies import JOB_ROLE_POLICIES, JobResources, execution_role_policy
from infra.job_specs import JOB_SPECS, Job, JobNames, JobSpec, JobTuning, job_environment, job_spec
from infra.jobs_image import jobs_image
from infra.lake_policies import GlueCatalog, LakeAccess
from infra.network import NetworkArgs, job_network
from infra.roles import ServiceRole, service_role

CPU_ARCHITECTURE = "X86_64"
TASK_SERVICE = "ecs-tasks.amazonaws.com"
#: Attempts per job: one retry for transient failures (a lost Fargate task, a throttled API). The jobs are
#: idempotent: a retry with the same parameters finishes what the failed attempt left undone.
JOB_ATTEMPTS = 2
#: Exit code 2 is a bad argument (argparse): retrying cannot help.
NO_RETRY_EXIT_CODE = "2"
#: The numeric libraries' thread pools (OpenMP: scikit-learn, LightGBM; OpenBLAS and MKL: numpy, scipy). The jobs
#: image defaults them to 2; without them OpenMP sizes its pool by the Fargate host's cores, not the task's vCPUs.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


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
    account_id: pulumi.Input[str]
    lake_database_name: pulumi.Input[str]
    athena_workgroup_name: pulumi.Input[str]
    athena_workgroup_arn: pulumi.Input[str]
    athena_results_bucket_arn: pulumi.Input[str]
    lake_sample_rows: int
    network: NetworkArgs
    max_vcpus: int
    job_vcpu: float
    job_memory_mib: int
    timeout_minutes: int
    keep_images: int
    log_retention_days: int
    incremental_retrain: bool
    feature_metrics: bool = False
    tuning: JobTuning = field(default_factory=JobTuning)


def thread_environment(vcpu: float) -> dict[str, str]:
    """One numeric thread per vCPU of the job (at least one: a fractional vCPU still runs one thread)."""
    threads = str(max(1, math.floor(vcpu)))
    return dict.fromkeys(THREAD_VARIABLES, threads)


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
    """A Fargate job definition's `containerProperties` as JSON (`environment` plus one numeric thread per vCPU)."""
    environment = {**environment, **thread_environment(float(resources.vcpu))}
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


class BatchJobs(pulumi.ComponentResource):
    """Network (or the configured one), compute environment, queue, jobs image and a definition per job."""

    queue: aws.batch.JobQueue
    repository: aws.ecr.Repository
    definitions: dict[Job, aws.batch.JobDefinition]
    log_group: aws.cloudwatch.LogGroup

    def __init__(self, name: str, args: BatchJobsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("autoretrain:batch:BatchJobs", name, None, opts)
        self._name = name
        child = pulumi.ResourceOptions(parent=self)
        resources = fargate_resources(args.job_vcpu, args.job_memory_mib)
        network = job_network(name, args.network, args.region, self)
        compute = aws.batch.ComputeEnvironment(
            f"{name}-compute",
            type="MANAGED",
            compute_resources={
                "type": "FARGATE",
                "max_vcpus": args.max_vcpus,
                "subnets": network.subnet_ids,
                "security_group_ids": network.security_group_ids,
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
        image = jobs_image(name, args.keep_images, self)
        self.repository = image.repository
        self.log_group = aws.cloudwatch.LogGroup(f"{name}-logs", retention_in_days=args.log_retention_days, opts=child)
        execution = service_role(
            f"{name}-execution",
            TASK_SERVICE,
            pulumi.Output.all(repository_arn=self.repository.arn, log_group_arn=self.log_group.arn).apply(
                lambda arns: execution_role_policy(**arns)
            ),
            parent=self,
        )
        self.definitions = {}
        for job in Job:
            role = self._job_role(job, args)
            environment = pulumi.Output.all(
                payload_bucket=args.payload_bucket_name,
                model_bucket=args.model_bucket_name,
                payload_table=args.payload_table_name,
                registry_table=args.registry_table_name,
                event_bus=args.event_bus_name,
                lake_database=args.lake_database_name,
                athena_workgroup=args.athena_workgroup_name,
            ).apply(functools.partial(_environment_of, job, args, image.code_version))
            properties = pulumi.Output.all(
                image.uri, role.role.arn, execution.role.arn, environment, self.log_group.name
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
                opts=pulumi.ResourceOptions(parent=self, depends_on=[role.policy, execution.policy]),
            )
        self.register_outputs(
            {
                "queue_arn": self.queue.arn,
                "repository_url": self.repository.repository_url,
                **{f"{job.name.lower()}_definition_arn": self.definitions[job].arn for job in Job},
            }
        )

    def _job_role(self, job: Job, args: BatchJobsArgs) -> ServiceRole:
        document = pulumi.Output.all(
            payload_bucket_arn=args.payload_bucket_arn,
            model_bucket_arn=args.model_bucket_arn,
            payload_table_arn=args.payload_table_arn,
            registry_table_arn=args.registry_table_arn,
            event_bus_arn=args.event_bus_arn,
            account_id=args.account_id,
            database=args.lake_database_name,
            workgroup_arn=args.athena_workgroup_arn,
            results_bucket_arn=args.athena_results_bucket_arn,
        ).apply(functools.partial(_job_role_policy, job, args))
        return service_role(f"{self._name}-{job.value}", TASK_SERVICE, document, parent=self)


def _job_role_policy(job: Job, args: BatchJobsArgs, values: Mapping[str, str]) -> str:
    lake = LakeAccess(
        payload_bucket_arn=values["payload_bucket_arn"],
        catalog=GlueCatalog(region=args.region, account_id=values["account_id"], database=values["database"]),
        workgroup_arn=values["workgroup_arn"],
        results_bucket_arn=values["results_bucket_arn"],
    )
    resources = JobResources(
        model_name=args.model_name,
        payload_bucket_arn=values["payload_bucket_arn"],
        model_bucket_arn=values["model_bucket_arn"],
        payload_table_arn=values["payload_table_arn"],
        registry_table_arn=values["registry_table_arn"],
        event_bus_arn=values["event_bus_arn"],
        lake=lake,
    )
    return JOB_ROLE_POLICIES[job](resources)


def _environment_of(job: Job, args: BatchJobsArgs, code_version: str, names: Mapping[str, str]) -> dict[str, str]:
    return job_environment(
        job,
        JobNames(**names),
        model_name=args.model_name,
        code_version=code_version,
        lake_sample_rows=args.lake_sample_rows,
        feature_metrics=args.feature_metrics,
        tuning=args.tuning,
    )


def _properties_of(job: Job, resources: FargateResources, args: BatchJobsArgs, values: Sequence[Any]) -> str:
    return container_properties(
        image=values[0],
        spec=job_spec(job, incremental_retrain=args.incremental_retrain),
        job_role_arn=values[1],
        execution_role_arn=values[2],
        resources=resources,
        environment=values[3],
        log_group=values[4],
        region=args.region,
        stream_prefix=job.value,
        assign_public_ip=args.network.assign_public_ip,
    )
