"""The whole program: provider and tags, component structure, outputs, and `autoretrain plan`."""

from __future__ import annotations

import json
import runpy
from pathlib import Path

import pytest

from autoretrain import plan
from infra.config import Settings
from infra.mocks import RecordedAlias, Recording, run_program, run_stack
from infra.outputs import StackOutput

REPO_ROOT = Path(__file__).resolve().parents[2]
COMPONENTS = {
    "autoretrain:storage:Storage",
    "autoretrain:lake:PayloadLake",
    "autoretrain:payload_etl:PayloadEtl",
    "autoretrain:ingest:PayloadStream",
    "autoretrain:serving:Serving",
    "autoretrain:alert_topic:AlertTopic",
    "autoretrain:events:EventBus",
    "autoretrain:events:EventRules",
    "autoretrain:batch:BatchJobs",
    "autoretrain:alerting:Alerting",
    "autoretrain:schedules:Schedules",
    "autoretrain:dashboard:Dashboard",
    "autoretrain:dashboard_access:DashboardAccess",
    "autoretrain:release:ReleasePipeline",
}

#: Components whose type token changed, with the token a deployed stack knows them by.
RENAMED_COMPONENTS = {
    "autoretrain:alert_topic:AlertTopic": "autoretrain:alerts:Alerts",
    "autoretrain:events:EventBus": "autoretrain:events:MonitoringBus",
    "autoretrain:dashboard:Dashboard": "autoretrain:dashboard:Monitoring",
}


def test_example_stack_config_runs_as_is(stack: Recording) -> None:
    assert len([resource for resource in stack.resources if resource.custom]) > 30


def test_entry_point_builds_the_same_stack_as_pulumi_runs_it(stack: Recording, dev_config: dict[str, str]) -> None:
    # The Python language host runs `main: infra/` with runpy.run_path on the directory.
    recording = run_program(lambda: runpy.run_path(str(REPO_ROOT / "infra"), run_name="__main__"), dev_config)
    assert sorted((item.type, item.name) for item in recording.resources) == sorted(
        (item.type, item.name) for item in stack.resources
    )


def test_program_uses_exactly_one_aws_provider(stack: Recording) -> None:
    assert len(stack.of_type("pulumi:providers:aws")) == 1


def test_provider_region_and_default_tags_come_from_config(stack: Recording, dev_config: dict[str, str]) -> None:
    (provider,) = stack.of_type("pulumi:providers:aws")
    default_tags = provider.inputs["defaultTags"]
    tags = (json.loads(default_tags) if isinstance(default_tags, str) else default_tags)["tags"]
    assert provider.inputs["region"] == dev_config["aws:region"]
    assert tags == Settings.from_mapping(dev_config).default_tags
    assert tags["project"] == "autoretrain"


def test_every_aws_resource_uses_the_tagged_provider(stack: Recording) -> None:
    (provider,) = stack.of_type("pulumi:providers:aws")
    aws_resources = [resource for resource in stack.resources if resource.type.startswith("aws:")]
    assert aws_resources
    assert {resource.provider.rsplit("::", 1)[0] for resource in aws_resources} == {provider.urn}


def test_components_use_their_type_tokens(stack: Recording) -> None:
    assert {resource.type for resource in stack.resources if not resource.custom} == COMPONENTS


def test_renamed_components_alias_their_former_type_so_a_deployed_stack_keeps_them(stack: Recording) -> None:
    aliases = {resource.type: resource.aliases for resource in stack.resources if not resource.custom}
    assert {token: aliases[token] for token in RENAMED_COMPONENTS} == {
        token: (RecordedAlias(type=former),) for token, former in RENAMED_COMPONENTS.items()
    }


def test_every_resource_belongs_to_a_component(stack: Recording) -> None:
    components = {resource.urn: resource.name for resource in stack.resources if not resource.custom}
    for resource in stack.resources:
        if resource.custom and not resource.is_provider:
            assert resource.parent in components, resource.name
            assert resource.name.startswith(components[resource.parent] + "-"), resource.name


def test_stack_exports_every_named_output(stack: Recording) -> None:
    assert set(stack.exports) == {output.value for output in StackOutput}
    assert all(isinstance(value, str) and value for value in stack.exports.values())


def test_stack_exports_the_payload_stream(stack: Recording) -> None:
    stream = stack.find("aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream", "autoretrain-ingest-stream")
    assert stack.exports[StackOutput.PAYLOAD_STREAM] == stream.outputs["name"]


def test_program_refuses_invalid_settings_before_creating_anything(dev_config: dict[str, str]) -> None:
    with pytest.raises(Exception, match="logRetentionDays"):
        run_stack({**dev_config, "autoretrain:logRetentionDays": "8"})


def test_plan_says_it_is_not_a_preview(capsys: pytest.CaptureFixture[str]) -> None:
    assert plan.main([]) == 0
    first_line = capsys.readouterr().out.splitlines()[0]
    assert "run under mocks" in first_line
    assert "NOT `pulumi preview`" in first_line
    assert "no AWS account was contacted" in first_line


def test_plan_lists_every_resource_with_its_key_settings(capsys: pytest.CaptureFixture[str], stack: Recording) -> None:
    assert plan.main([]) == 0
    out = capsys.readouterr().out
    listed = {tuple(line.split()[:2]) for line in out.splitlines() if line.strip()}
    assert {(resource.type, resource.name) for resource in stack.resources} <= listed
    assert "runtime: python3.13" in out
    assert "billing: PAY_PER_REQUEST" in out
    assert "ignore changes: imageUri" in out
    assert "ignore changes: storageDescriptor.columns" in out
    assert "bytes scanned cutoff: " in out
    assert "layers: arn:aws:lambda:eu-west-1:336392948345:layer:AWSSDKPandas-Python313-Arm64:" in out


def test_plan_reads_another_stack_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "Pulumi.other.yaml"
    config.write_text("config:\n  aws:region: us-west-2\n  autoretrain:modelName: fraud\n")
    assert plan.main(["--stack-config", str(config)]) == 0
    assert "region: us-west-2" in capsys.readouterr().out


def test_plan_reports_invalid_config_and_exits_non_zero(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "Pulumi.bad.yaml"
    config.write_text(
        "config:\n  aws:region: us-west-2\n  autoretrain:modelName: fraud\n  autoretrain:logRetentionDays: 8\n"
    )
    assert plan.main(["--stack-config", str(config)]) == 2
    assert "autoretrain:logRetentionDays must be one of" in capsys.readouterr().err


def test_plan_reports_a_missing_stack_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert plan.main(["--stack-config", str(tmp_path / "absent.yaml")]) == 2
    assert "cannot read stack config" in capsys.readouterr().err


def _teardown() -> str:
    """The README's teardown note."""
    readme = (REPO_ROOT / "README.md").read_text()
    return readme.split("- **Tear down**", 1)[1].split("\n\n", 1)[0]


def test_every_ecr_repository_is_deleted_with_its_images(stack: Recording) -> None:
    repositories = stack.of_type("aws:ecr/repository:Repository")
    assert len(repositories) == 2  # serving and jobs
    assert all(repository.inputs.get("forceDelete") is True for repository in repositories)


def test_the_athena_workgroup_is_deleted_with_its_query_history(stack: Recording) -> None:
    workgroup = stack.find("aws:athena/workgroup:Workgroup", "autoretrain-lake-workgroup")
    assert workgroup.inputs.get("forceDestroy") is True


def test_buckets_are_kept_from_destroy_until_emptied_as_the_readme_says(stack: Recording) -> None:
    buckets = stack.of_type("aws:s3/bucket:Bucket")
    assert not any(bucket.inputs.get("forceDestroy") for bucket in buckets)
    assert "buckets are not force-destroyed" in _teardown()


def test_the_readme_teardown_empties_every_bucket_of_the_stack(stack: Recording) -> None:
    (loop,) = [line for line in _teardown().splitlines() if line.strip().startswith("for output in")]
    emptied = {stack.exports[name] for name in loop.split(" in ", 1)[1].split(";", 1)[0].split()}
    assert emptied == {bucket.outputs["bucket"] for bucket in stack.of_type("aws:s3/bucket:Bucket")}
    assert "object_versions.delete()" in _teardown()  # every version and delete marker, not only current objects


def test_the_readme_teardown_lifts_deletion_protection_before_destroy() -> None:
    steps = _teardown()
    assert steps.index("autoretrain:deletionProtection") < steps.index("pulumi up") < steps.index("pulumi destroy")
