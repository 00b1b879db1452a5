"""Batch on Fargate: network, compute environment, queue, image, job definitions, and execution vs job roles."""

from __future__ import annotations

import json
from typing import Any

import pytest

from core.settings import DriftCheckSettings, RetrainSettings
from infra.config import Settings, SettingsError
from infra.fargate import FARGATE_SIZES, FargateSizeError, fargate_resources
from infra.job_policies import JobResources, drift_check_job_policy, retrain_job_policy
from infra.job_specs import Job
from infra.mocks import RecordedResource, Recording
from tests.infra.grants import grants, role_grants

DEFINITION = "aws:batch/jobDefinition:JobDefinition"
MINIMAL = {"aws:region": "eu-west-1", "autoretrain:modelName": "churn"}
MODELS = "arn:aws:s3:::models-abc"
PAYLOADS = "arn:aws:s3:::payloads-abc"
PAYLOAD_TABLE = "arn:aws:dynamodb:eu-west-1:1:table/payloads"
REGISTRY = "arn:aws:dynamodb:eu-west-1:1:table/registry"
BUS = "arn:aws:events:eu-west-1:1:event-bus/bus"
RESOURCES = JobResources(
    model_name="churn",
    payload_bucket_arn=PAYLOADS,
    model_bucket_arn=MODELS,
    payload_table_arn=PAYLOAD_TABLE,
    registry_table_arn=REGISTRY,
    event_bus_arn=BUS,
)


def _definition(stack: Recording, job: Job) -> RecordedResource:
    return stack.find(DEFINITION, f"autoretrain-jobs-{job.value}")


def _container(stack: Recording, job: Job) -> dict[str, Any]:
    properties: dict[str, Any] = json.loads(_definition(stack, job).inputs["containerProperties"])
    return properties


def test_compute_environment_is_managed_fargate_with_configured_max_vcpus(
    stack: Recording, dev_config: dict[str, str]
) -> None:
    compute = stack.find("aws:batch/computeEnvironment:ComputeEnvironment", "autoretrain-jobs-compute")
    assert compute.inputs["type"] == "MANAGED"
    assert compute.inputs["computeResources"]["type"] == "FARGATE"
    assert compute.inputs["computeResources"]["maxVcpus"] == int(dev_config["autoretrain:batchMaxVcpus"])


def test_queue_uses_the_compute_environment(stack: Recording) -> None:
    compute = stack.find("aws:batch/computeEnvironment:ComputeEnvironment", "autoretrain-jobs-compute")
    queue = stack.find("aws:batch/jobQueue:JobQueue", "autoretrain-jobs-queue")
    assert queue.inputs["computeEnvironmentOrders"] == [{"order": 1, "computeEnvironment": compute.outputs["arn"]}]


def test_without_configured_network_the_stack_makes_public_subnets_and_an_egress_only_group(stack: Recording) -> None:
    compute = stack.find("aws:batch/computeEnvironment:ComputeEnvironment", "autoretrain-jobs-compute")
    subnets = [s for s in stack.of_type("aws:ec2/subnet:Subnet") if s.name.startswith("autoretrain-jobs-subnet")]
    group = stack.find("aws:ec2/securityGroup:SecurityGroup", "autoretrain-jobs-jobs-sg")
    assert len({subnet.inputs["availabilityZone"] for subnet in subnets}) == 2
    assert all(subnet.inputs["mapPublicIpOnLaunch"] for subnet in subnets)
    assert set(compute.inputs["computeResources"]["subnets"]) == {subnet.id for subnet in subnets}
    assert compute.inputs["computeResources"]["securityGroupIds"] == [group.id]
    assert not group.inputs.get("ingress")
    assert [(rule["fromPort"], rule["toPort"], rule["protocol"]) for rule in group.inputs["egress"]] == [
        (443, 443, "tcp")
    ]


def test_own_vpc_routes_to_the_internet_without_nat_and_keeps_s3_and_dynamodb_inside(stack: Recording) -> None:
    assert stack.of_type("aws:ec2/natGateway:NatGateway") == []
    routes = stack.find("aws:ec2/routeTable:RouteTable", "autoretrain-jobs-routes")
    gateway = stack.find("aws:ec2/internetGateway:InternetGateway", "autoretrain-jobs-igw")
    assert routes.inputs["routes"] == [{"cidrBlock": "0.0.0.0/0", "gatewayId": gateway.id}]
    endpoints = {e.inputs["serviceName"] for e in stack.of_type("aws:ec2/vpcEndpoint:VpcEndpoint")}
    assert endpoints == {"com.amazonaws.eu-west-1.s3", "com.amazonaws.eu-west-1.dynamodb"}


def test_configured_network_is_used_and_no_vpc_is_made(alternative_stack: Recording) -> None:
    recording = alternative_stack
    compute = recording.find("aws:batch/computeEnvironment:ComputeEnvironment", "autoretrain-jobs-compute")
    assert compute.inputs["computeResources"]["subnets"] == ["subnet-1", "subnet-2"]
    assert compute.inputs["computeResources"]["securityGroupIds"] == ["sg-1"]
    assert recording.of_type("aws:ec2/vpc:Vpc") == []
    properties = json.loads(recording.find(DEFINITION, "autoretrain-jobs-retrain").inputs["containerProperties"])
    assert properties["networkConfiguration"] == {"assignPublicIp": "DISABLED"}


def test_subnets_without_security_groups_are_refused() -> None:
    with pytest.raises(SettingsError, match="subnetIds and autoretrain:securityGroupIds go together"):
        Settings.from_mapping({**MINIMAL, "autoretrain:subnetIds": '["subnet-1"]'})


@pytest.mark.parametrize(
    ("job", "command"),
    [
        (Job.DRIFT_CHECK, ["-m", "batch_jobs.drift_check", "--now", "Ref::now"]),
        (
            Job.RETRAIN,
            ["-m", "batch_jobs.retrain", "--trigger", "Ref::trigger", "--reason", "Ref::reason", "--now", "Ref::now"],
        ),
    ],
)
def test_job_definitions_run_the_entry_points(stack: Recording, job: Job, command: list[str]) -> None:
    assert _container(stack, job)["command"] == command


def test_retrain_has_default_trigger_and_reason(stack: Recording) -> None:
    assert _definition(stack, Job.RETRAIN).inputs["parameters"] == {
        "trigger": "on_demand",
        "reason": "submitted by hand",
    }


@pytest.mark.parametrize("job", list(Job))
def test_job_definitions_are_fargate_with_valid_resources(
    stack: Recording, job: Job, dev_config: dict[str, str]
) -> None:
    definition = _definition(stack, job)
    resources = {item["type"]: item["value"] for item in _container(stack, job)["resourceRequirements"]}
    assert definition.inputs["platformCapabilities"] == ["FARGATE"]
    assert resources == {"VCPU": dev_config["autoretrain:jobVcpu"], "MEMORY": dev_config["autoretrain:jobMemoryMib"]}
    assert fargate_resources(float(resources["VCPU"]), int(resources["MEMORY"]))


@pytest.mark.parametrize("job", list(Job))
def test_job_definitions_bound_time_and_retries(stack: Recording, job: Job, dev_config: dict[str, str]) -> None:
    inputs = _definition(stack, job).inputs
    assert inputs["timeout"]["attemptDurationSeconds"] == int(dev_config["autoretrain:jobTimeoutMinutes"]) * 60
    assert inputs["retryStrategy"]["attempts"] == 2
    assert inputs["retryStrategy"]["evaluateOnExits"] == [{"onExitCode": "2", "action": "EXIT"}]


@pytest.mark.parametrize("job", list(Job))
def test_jobs_log_to_the_jobs_log_group(stack: Recording, job: Job) -> None:
    group = stack.find("aws:cloudwatch/logGroup:LogGroup", "autoretrain-jobs-logs")
    options = _container(stack, job)["logConfiguration"]["options"]
    assert options["awslogs-group"] == group.outputs["name"]
    assert options["awslogs-stream-prefix"] == job.value


def test_jobs_run_the_pushed_jobs_image_by_digest(stack: Recording) -> None:
    image = stack.find("docker-build:index:Image", "autoretrain-jobs-image")
    repository = stack.find("aws:ecr/repository:Repository", "autoretrain-jobs-repository")
    assert image.inputs["dockerfile"] == {"location": "batch_jobs/Dockerfile"}
    assert image.inputs["platforms"] == ["linux/amd64"]
    for job in Job:
        assert _container(stack, job)["image"] == f"{repository.outputs['repositoryUrl']}@{image.outputs['digest']}"


def test_jobs_repository_scans_and_is_immutable(stack: Recording) -> None:
    repository = stack.find("aws:ecr/repository:Repository", "autoretrain-jobs-repository")
    assert repository.inputs["imageTagMutability"] == "IMMUTABLE"
    assert repository.inputs["imageScanningConfiguration"] == {"scanOnPush": True}
    stack.find("aws:ecr/lifecyclePolicy:LifecyclePolicy", "autoretrain-jobs-repository-lifecycle")


def test_execution_role_is_shared_and_separate_from_the_job_roles(stack: Recording) -> None:
    execution = {_container(stack, job)["executionRoleArn"] for job in Job}
    job_roles = [_container(stack, job)["jobRoleArn"] for job in Job]
    assert len(execution) == 1
    assert len(set(job_roles)) == len(Job)
    assert not execution & set(job_roles)


def test_execution_role_only_pulls_the_jobs_image_and_writes_logs(stack: Recording) -> None:
    allowed = role_grants(stack, _container(stack, Job.DRIFT_CHECK)["executionRoleArn"])
    repository = stack.find("aws:ecr/repository:Repository", "autoretrain-jobs-repository").outputs["arn"]
    assert {action.split(":")[0] for action in allowed} == {"ecr", "logs"}
    assert allowed["ecr:BatchGetImage"] == {repository}
    assert allowed["ecr:GetAuthorizationToken"] == {"*"}


@pytest.mark.parametrize(("job", "settings"), [(Job.DRIFT_CHECK, DriftCheckSettings), (Job.RETRAIN, RetrainSettings)])
def test_job_environment_satisfies_the_jobs_settings(stack: Recording, job: Job, settings: Any) -> None:
    environment = {item["name"]: item["value"] for item in _container(stack, job)["environment"]}
    assert settings.from_env(environment).model_name == "churn"


def test_retrain_records_the_image_content_tag_as_its_code_version(stack: Recording) -> None:
    environment = {item["name"]: item["value"] for item in _container(stack, Job.RETRAIN)["environment"]}
    image = stack.find("docker-build:index:Image", "autoretrain-jobs-image")
    assert image.inputs["tags"][0].endswith(":" + environment["AUTORETRAIN_CODE_VERSION"])


def test_drift_check_policy_grants_what_the_job_does() -> None:
    allowed = grants(drift_check_job_policy(RESOURCES))
    assert allowed["s3:GetObject"] == {f"{MODELS}/models/churn/*"}
    assert allowed["s3:PutObject"] == {f"{MODELS}/reports/churn/*"}
    assert allowed["dynamodb:Query"] == {
        PAYLOAD_TABLE,
        f"{PAYLOAD_TABLE}/index/by_time",
        REGISTRY,
        f"{REGISTRY}/index/by_status",
    }
    assert allowed["dynamodb:PutItem"] == {PAYLOAD_TABLE}
    assert allowed["events:PutEvents"] == {BUS}
    assert allowed["cloudwatch:PutMetricData"] == {"*"}
    assert not any(action.startswith(("sns:", "kms:")) for action in allowed)
    assert not any(resource.startswith(PAYLOADS) for resources in allowed.values() for resource in resources)


def test_drift_check_role_is_given_nothing_on_the_payload_bucket(stack: Recording) -> None:
    payloads = stack.find("aws:s3/bucket:Bucket", "autoretrain-payloads").outputs["arn"]
    allowed = role_grants(stack, _container(stack, Job.DRIFT_CHECK)["jobRoleArn"])
    assert not any(resource.startswith(payloads) for resources in allowed.values() for resource in resources)


def test_retrain_policy_grants_what_the_job_does() -> None:
    document = retrain_job_policy(RESOURCES)
    allowed = grants(document)
    assert allowed["s3:GetObject"] == {
        f"{PAYLOADS}/training/churn/*",
        f"{MODELS}/models/churn/*",
        f"{MODELS}/release/churn.zip",
    }
    assert allowed["s3:PutObject"] == {f"{MODELS}/models/churn/*", f"{MODELS}/release/churn.zip"}
    assert {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"} <= set(allowed)
    assert allowed["dynamodb:UpdateItem"] == {REGISTRY}
    assert allowed["dynamodb:PutItem"] == {REGISTRY}
    (listing,) = [s for s in json.loads(document)["Statement"] if s["Sid"] == "ListTrainingSet"]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["training/churn/", "training/churn/*"]}}


@pytest.mark.parametrize(
    ("vcpu", "memory"),
    [(0.25, 512), (0.25, 2048), (1.0, 2048), (2.0, 16384), (4.0, 30720), (8.0, 61440), (16.0, 122880)],
)
def test_fargate_sizes_accept_valid_pairs(vcpu: float, memory: int) -> None:
    resources = fargate_resources(vcpu, memory)
    assert (resources.vcpu, resources.memory_mib) == (f"{vcpu:g}", str(memory))


@pytest.mark.parametrize(
    ("vcpu", "memory"), [(1.0, 1024), (1.0, 9216), (2.0, 4500), (0.25, 1536), (3.0, 8192), (8.0, 18432)]
)
def test_fargate_sizes_refuse_invalid_pairs(vcpu: float, memory: int) -> None:
    with pytest.raises(FargateSizeError):
        fargate_resources(vcpu, memory)


def test_invalid_job_size_is_refused_by_key() -> None:
    with pytest.raises(SettingsError, match="jobVcpu/jobMemoryMib: 1 vCPU on Fargate takes 2048-8192 MiB"):
        Settings.from_mapping({**MINIMAL, "autoretrain:jobVcpu": "1", "autoretrain:jobMemoryMib": "16384"})


def test_max_vcpus_below_one_job_is_refused() -> None:
    with pytest.raises(SettingsError, match="batchMaxVcpus must be between jobVcpu"):
        Settings.from_mapping(
            {
                **MINIMAL,
                "autoretrain:jobVcpu": "4",
                "autoretrain:jobMemoryMib": "8192",
                "autoretrain:batchMaxVcpus": "2",
            }
        )


def test_every_fargate_vcpu_value_has_a_memory_range() -> None:
    assert sorted(FARGATE_SIZES) == [0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0]
