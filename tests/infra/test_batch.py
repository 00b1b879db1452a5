"""Batch on Fargate: network, compute environment, queue, image, job definitions, and execution vs job roles."""

from __future__ import annotations

import json
from typing import Any

import pytest

from batch_jobs import retrain
from core.lake import LakeTable
from core.routing import EVENT_ROUTES, Target
from core.settings import LAKE_ENGINES, DriftCheckSettings, EnvVar, LakeSettings, RetrainSettings
from infra.batch import THREAD_VARIABLES, thread_environment
from infra.config import Settings, SettingsError
from infra.fargate import FARGATE_SIZES, FargateSizeError, fargate_resources
from infra.job_policies import JobResources, compact_lake_job_policy, drift_check_job_policy, retrain_job_policy
from infra.job_specs import JOB_SPECS, LAKE_ENGINE, Job, job_schedules, job_spec
from infra.lake_policies import GlueCatalog, LakeAccess
from infra.mocks import RecordedResource, Recording
from tests.infra.grants import grants, role_grants

DEFINITION = "aws:batch/jobDefinition:JobDefinition"
MINIMAL = {"aws:region": "eu-west-1", "autoretrain:modelName": "churn"}
MODELS = "arn:aws:s3:::models-abc"
PAYLOADS = "arn:aws:s3:::payloads-abc"
PAYLOAD_TABLE = "arn:aws:dynamodb:eu-west-1:1:table/payloads"
REGISTRY = "arn:aws:dynamodb:eu-west-1:1:table/registry"
BUS = "arn:aws:events:eu-west-1:1:event-bus/bus"
WORKGROUP = "arn:aws:athena:eu-west-1:1:workgroup/lake"
RESULTS = "arn:aws:s3:::results-abc"
CATALOG = GlueCatalog(region="eu-west-1", account_id="1", database="autoretrain_churn_dev")
RESOURCES = JobResources(
    model_name="churn",
    payload_bucket_arn=PAYLOADS,
    model_bucket_arn=MODELS,
    payload_table_arn=PAYLOAD_TABLE,
    registry_table_arn=REGISTRY,
    event_bus_arn=BUS,
    lake=LakeAccess(payload_bucket_arn=PAYLOADS, catalog=CATALOG, workgroup_arn=WORKGROUP, results_bucket_arn=RESULTS),
)
#: Every ARN of the catalog, the database and both tables, which a table action authorises on.
LAKE_TABLES = {
    "arn:aws:glue:eu-west-1:1:catalog",
    "arn:aws:glue:eu-west-1:1:database/autoretrain_churn_dev",
    *(f"arn:aws:glue:eu-west-1:1:table/autoretrain_churn_dev/{table}" for table in LakeTable),
}


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
            [
                "-m",
                "batch_jobs.retrain",
                "--trigger",
                "Ref::trigger",
                "--reason",
                "Ref::reason",
                "--now",
                "Ref::now",
                "--regime-start",
                "Ref::regime_start",
            ],
        ),
        (Job.COMPACT_LAKE, ["-m", "batch_jobs.compact_lake", "--now", "Ref::now"]),
    ],
)
def test_job_definitions_run_the_entry_points(stack: Recording, job: Job, command: list[str]) -> None:
    assert _container(stack, job)["command"] == command


def test_retrain_updates_the_champion_incrementally_when_the_stack_says_so(alternative_stack: Recording) -> None:
    command = _container(alternative_stack, Job.RETRAIN)["command"]
    assert command == [*JOB_SPECS[Job.RETRAIN].command, "--incremental"]
    assert _container(alternative_stack, Job.DRIFT_CHECK)["command"] == JOB_SPECS[Job.DRIFT_CHECK].command


def test_the_incremental_flag_is_one_the_retrain_job_reads() -> None:
    spec = job_spec(Job.RETRAIN, incremental_retrain=True)
    values = {**spec.default_parameters, "trigger": "schedule", "now": "2026-11-23T00:00:00Z"}
    filled = [values[word.removeprefix("Ref::")] if word.startswith("Ref::") else word for word in spec.command]
    arguments = retrain.build_parser().parse_args(filled[2:])
    assert arguments.incremental is True
    assert arguments.regime_start is None  # the default parameter: no recovery
    assert job_spec(Job.RETRAIN, incremental_retrain=False) == JOB_SPECS[Job.RETRAIN]


def test_every_submitter_of_the_retrain_runs_the_definitions_command(alternative_stack: Recording) -> None:
    # The incremental fit lives in the job definition's command: a submitter that overrode the command would lose it.
    schedules = [
        alternative_stack.find("aws:scheduler/schedule:Schedule", f"autoretrain-schedules-{schedule.name}")
        for schedule in job_schedules()
        if schedule.job is Job.RETRAIN
    ]
    targets = [
        alternative_stack.find("aws:cloudwatch/eventTarget:EventTarget", f"autoretrain-rules-{route.name}-target")
        for route in EVENT_ROUTES
        if route.target is Target.RETRAIN_JOB
    ]
    definition = _definition(alternative_stack, Job.RETRAIN).outputs["arn"]
    assert schedules
    assert targets
    for submitter in [*schedules, *targets]:
        submission = json.dumps(submitter.inputs)
        assert definition in submission
        assert "overrides" not in submission.lower()


def test_retrain_has_default_trigger_and_reason(stack: Recording) -> None:
    assert _definition(stack, Job.RETRAIN).inputs["parameters"] == {
        "trigger": "on_demand",
        "reason": "submitted by hand",
        "regime_start": "none",
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


def _environment(stack: Recording, job: Job) -> dict[str, str]:
    return {item["name"]: item["value"] for item in _container(stack, job)["environment"]}


@pytest.mark.parametrize(("job", "settings"), [(Job.DRIFT_CHECK, DriftCheckSettings), (Job.RETRAIN, RetrainSettings)])
def test_job_environment_satisfies_the_jobs_settings(stack: Recording, job: Job, settings: Any) -> None:
    assert settings.from_env(_environment(stack, job)).model_name == "churn"


@pytest.mark.parametrize("job", [Job.DRIFT_CHECK, Job.RETRAIN])
def test_querying_jobs_use_athena_in_the_stacks_workgroup_and_database(
    stack: Recording, dev_config: dict[str, str], job: Job
) -> None:
    lake = LakeSettings.from_env(_environment(stack, job))
    workgroup = stack.find("aws:athena/workgroup:Workgroup", "autoretrain-lake-workgroup").outputs["name"]
    database = stack.find("aws:glue/catalogDatabase:CatalogDatabase", "autoretrain-lake-database").outputs["name"]
    payloads = stack.find("aws:s3/bucket:Bucket", "autoretrain-payloads").outputs["bucket"]
    assert (lake.engine, lake.workgroup, lake.database, lake.bucket) == ("athena", workgroup, database, payloads)
    assert lake.sample_rows == int(dev_config["autoretrain:lakeSampleRows"])


def test_the_deployed_engine_is_one_the_code_knows() -> None:
    assert LAKE_ENGINE in LAKE_ENGINES


def test_compaction_environment_names_the_lake_and_no_query_engine(stack: Recording) -> None:
    environment = _environment(stack, Job.COMPACT_LAKE)
    lake = LakeSettings.from_env(environment)
    assert (lake.database, environment[EnvVar.MODEL_NAME]) == (
        _environment(stack, Job.DRIFT_CHECK)[EnvVar.LAKE_DATABASE],
        "churn",
    )
    assert EnvVar.ATHENA_WORKGROUP not in environment


@pytest.mark.parametrize("job", list(Job))
def test_no_job_overrides_a_default_the_retention_checks_assume(stack: Recording, job: Job) -> None:
    # infra.config validates retention against the code's label delay; setting it here would bypass that check.
    assert EnvVar.LABEL_DELAY_DAYS not in _environment(stack, job)


def test_retrain_records_the_image_content_tag_as_its_code_version(stack: Recording) -> None:
    environment = {item["name"]: item["value"] for item in _container(stack, Job.RETRAIN)["environment"]}
    image = stack.find("docker-build:index:Image", "autoretrain-jobs-image")
    assert image.inputs["tags"][0].endswith(":" + environment["AUTORETRAIN_CODE_VERSION"])


def test_drift_check_policy_grants_what_the_job_does() -> None:
    allowed = grants(drift_check_job_policy(RESOURCES))
    assert allowed["s3:GetObject"] == {f"{MODELS}/models/churn/*", f"{PAYLOADS}/lake/*", f"{RESULTS}/results/*"}
    assert allowed["s3:PutObject"] == {f"{MODELS}/reports/churn/*", f"{RESULTS}/results/*"}
    assert allowed["dynamodb:Query"] == {REGISTRY, f"{REGISTRY}/index/by_status"}
    # The window comes from the lake: of the payload table, only the drift state's item.
    assert {action for action, resources in allowed.items() if PAYLOAD_TABLE in resources} == {
        "dynamodb:GetItem",
        "dynamodb:PutItem",
    }
    assert not any(resource.startswith(f"{PAYLOAD_TABLE}/") for resources in allowed.values() for resource in resources)
    assert allowed["events:PutEvents"] == {BUS}
    assert allowed["cloudwatch:PutMetricData"] == {"*"}
    assert not any(action.startswith(("sns:", "kms:")) for action in allowed)
    assert {resource for resources in allowed.values() for resource in resources if resource.startswith(PAYLOADS)} == {
        PAYLOADS,
        f"{PAYLOADS}/lake/*",
    }


def test_drift_check_role_reads_only_the_lake_of_the_payload_bucket(stack: Recording) -> None:
    payloads = stack.find("aws:s3/bucket:Bucket", "autoretrain-payloads").outputs["arn"]
    allowed = role_grants(stack, _container(stack, Job.DRIFT_CHECK)["jobRoleArn"])
    reached = {(action, resource) for action, resources in allowed.items() for resource in resources}
    assert {(action, resource) for action, resource in reached if resource.startswith(payloads)} == {
        ("s3:GetObject", f"{payloads}/lake/*"),
        ("s3:ListBucket", payloads),
        ("s3:GetBucketLocation", payloads),
    }


@pytest.mark.parametrize("policy", [drift_check_job_policy, retrain_job_policy])
def test_querying_jobs_read_the_lake_and_query_only_in_the_workgroup(policy: Any) -> None:
    document = policy(RESOURCES)
    allowed = grants(document)
    assert allowed["glue:GetDatabase"] == allowed["glue:GetTable"] == LAKE_TABLES
    assert "glue:GetPartitions" not in allowed  # partition projection: Athena does not call it
    athena = {action: resources for action, resources in allowed.items() if action.startswith("athena:")}
    assert athena == {
        action: {WORKGROUP}
        for action in (
            "athena:StartQueryExecution",
            "athena:GetQueryExecution",
            "athena:GetQueryResults",
            "athena:StopQueryExecution",
            "athena:GetWorkGroup",
        )
    }
    for action in ("s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"):
        assert {resource for resource in allowed[action] if resource.startswith(RESULTS)} == {f"{RESULTS}/results/*"}
    assert allowed["s3:DeleteObject"] == {f"{RESULTS}/results/*"}
    assert {RESULTS, PAYLOADS} <= allowed["s3:GetBucketLocation"]
    (listing,) = [s for s in json.loads(document)["Statement"] if s["Sid"] == "ListLakeFiles"]
    assert listing["Resource"] == [PAYLOADS]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["lake/", "lake/*"]}}


def test_only_the_retrain_job_changes_the_catalog_and_only_the_predictions_columns() -> None:
    retrain = grants(retrain_job_policy(RESOURCES))
    assert retrain["glue:UpdateTable"] == {
        "arn:aws:glue:eu-west-1:1:catalog",
        "arn:aws:glue:eu-west-1:1:database/autoretrain_churn_dev",
        "arn:aws:glue:eu-west-1:1:table/autoretrain_churn_dev/predictions",
    }
    for policy in (drift_check_job_policy, compact_lake_job_policy):
        assert not any(
            action.startswith("glue:") and action not in ("glue:GetDatabase", "glue:GetTable")
            for action in grants(policy(RESOURCES))
        )


def test_compaction_policy_rewrites_files_under_lake_only() -> None:
    document = compact_lake_job_policy(RESOURCES)
    lake = {f"{PAYLOADS}/lake/*"}
    assert grants(document) == {
        "s3:GetObject": lake,
        "s3:PutObject": lake,
        "s3:DeleteObject": lake,
        "s3:ListBucket": {PAYLOADS},
    }
    (listing,) = [s for s in json.loads(document)["Statement"] if s["Action"] == ["s3:ListBucket"]]
    assert listing["Condition"] == {"StringLike": {"s3:prefix": ["lake/", "lake/*"]}}


def test_compaction_role_is_its_own(stack: Recording) -> None:
    role = _container(stack, Job.COMPACT_LAKE)["jobRoleArn"]
    payloads = stack.find("aws:s3/bucket:Bucket", "autoretrain-payloads").outputs["arn"]
    assert set(role_grants(stack, role)) == {"s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:ListBucket"}
    assert role_grants(stack, role)["s3:DeleteObject"] == {f"{payloads}/lake/*"}


def test_job_roles_name_the_deployed_lake(stack: Recording) -> None:
    allowed = role_grants(stack, _container(stack, Job.RETRAIN)["jobRoleArn"])
    workgroup = stack.find("aws:athena/workgroup:Workgroup", "autoretrain-lake-workgroup").outputs["arn"]
    database = stack.find("aws:glue/catalogDatabase:CatalogDatabase", "autoretrain-lake-database").outputs["arn"]
    tables = {
        stack.find("aws:glue/catalogTable:CatalogTable", f"autoretrain-lake-{t}").outputs["arn"] for t in LakeTable
    }
    results = stack.find("aws:s3/bucket:Bucket", "autoretrain-lake-athena-results").outputs["arn"]
    assert allowed["athena:StartQueryExecution"] == {workgroup}
    assert {database, *tables} <= allowed["glue:GetTable"]
    assert f"{results}/results/*" in allowed["s3:PutObject"]


def test_retrain_policy_grants_what_the_job_does() -> None:
    document = retrain_job_policy(RESOURCES)
    allowed = grants(document)
    assert allowed["s3:GetObject"] == {
        f"{PAYLOADS}/training/churn/*",
        f"{PAYLOADS}/lake/*",
        f"{MODELS}/models/churn/*",
        f"{MODELS}/release/churn.zip",
        f"{RESULTS}/results/*",
    }
    assert allowed["s3:PutObject"] == {
        f"{MODELS}/models/churn/*",
        f"{MODELS}/release/churn.zip",
        f"{RESULTS}/results/*",
    }
    assert {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:ConditionCheckItem"} <= set(allowed)
    assert allowed["dynamodb:UpdateItem"] == {REGISTRY}
    assert allowed["dynamodb:PutItem"] == {REGISTRY}
    # The training window comes from the lake: nothing on the payload table.
    assert not any(resource.startswith(PAYLOAD_TABLE) for resources in allowed.values() for resource in resources)
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


@pytest.mark.parametrize("job", list(Job))
def test_numeric_thread_pools_match_the_jobs_vcpus(stack: Recording, dev_config: dict[str, str], job: Job) -> None:
    # The image defaults them to 2; OpenMP would otherwise size its pool by the Fargate host's cores.
    environment = _environment(stack, job)
    vcpus = dev_config["autoretrain:jobVcpu"]
    assert {name: environment[name] for name in THREAD_VARIABLES} == dict.fromkeys(
        ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"), vcpus
    )


@pytest.mark.parametrize(("vcpu", "threads"), [(0.25, "1"), (0.5, "1"), (1.0, "1"), (2.0, "2"), (16.0, "16")])
def test_a_fractional_vcpu_still_runs_one_thread(vcpu: float, threads: str) -> None:
    assert set(thread_environment(vcpu).values()) == {threads}


def test_the_drift_check_publishes_per_feature_metrics_only_when_the_stack_says_so(
    stack: Recording, dev_config: dict[str, str]
) -> None:
    assert dev_config["autoretrain:featureMetrics"] == "false"
    assert DriftCheckSettings.from_env(_environment(stack, Job.DRIFT_CHECK)).feature_metrics is False
    assert EnvVar.FEATURE_METRICS not in _environment(stack, Job.RETRAIN)
