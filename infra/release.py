"""ReleasePipeline: a new version of `release/<m>.zip` in the model bucket deploys it to the serving Lambda.

CodePipeline (V2) has two S3 sources on versioned buckets, neither polled: `release` (the release object the retrain
job or `autoretrain rollback` writes) and `code` (a bundle of the serving code and `buildspec.yml` that Pulumi
uploads to the artifact bucket). The model bucket sends its object events to EventBridge (Storage turns that on);
a rule on the default bus starts the pipeline when the release object is created. One CodeBuild action (privileged:
it builds the serving image) runs `buildspec.yml` from the `code` artifact, its primary source (CodeBuild reads
the buildspec from the primary source only); the release files are in `$CODEBUILD_SRC_DIR_release`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import pulumi
import pulumi_aws as aws

from core.layout import release_object_key
from core.settings import EnvVar
from core.tables import BY_STATUS_INDEX
from infra.images import REPO_ROOT
from infra.policies import (
    Statement,
    any_resource_statement,
    assume_role_policy,
    log_statement,
    policy_document,
    table_and_index_arns,
)

BUILDSPEC = "buildspec.yml"
BUILD_IMAGE = "aws/codebuild/amazonlinux-x86_64-standard:5.0"  # Amazon Linux 2023, x86_64, Docker included
COMPUTE_TYPE = "BUILD_GENERAL1_MEDIUM"  # 7 GB: the serving image build and its smoke test load the numeric stack
BUILD_TIMEOUT_MINUTES = 60
CODE_BUNDLE_KEY = "sources/serving-code.zip"
RELEASE_ARTIFACT = "release"
CODE_ARTIFACT = "code"
#: Files and directories of the repository the code bundle carries (what buildspec.yml uses).
CODE_BUNDLE_SOURCES = (
    BUILDSPEC,
    "core",
    "lambdas/__init__.py",
    "lambdas/serving",
    "deploy",
)
SKIPPED_PARTS = frozenset({"__pycache__", ".pytest_cache", ".mypy_cache"})
SOURCE_READ_ACTIONS = ("s3:GetObject", "s3:GetObjectTagging", "s3:GetObjectVersion", "s3:GetObjectVersionTagging")
SOURCE_BUCKET_ACTIONS = ("s3:GetBucketAcl", "s3:GetBucketLocation", "s3:GetBucketVersioning")
ECR_PUSH_ACTIONS = (
    "ecr:BatchCheckLayerAvailability",
    "ecr:BatchGetImage",
    "ecr:CompleteLayerUpload",
    "ecr:DescribeImages",
    "ecr:GetDownloadUrlForLayer",
    "ecr:InitiateLayerUpload",
    "ecr:PutImage",
    "ecr:UploadLayerPart",
)
LAMBDA_DEPLOY_ACTIONS = (
    "lambda:CreateAlias",
    "lambda:GetAlias",
    "lambda:GetFunction",
    "lambda:GetFunctionConfiguration",
    "lambda:PublishVersion",
    "lambda:UpdateAlias",
    "lambda:UpdateFunctionCode",
)
#: Registry writes; TransactWriteItems authorises each item with these per-item actions.
REGISTRY_ACTIONS = ("dynamodb:ConditionCheckItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem")
MAX_EVENT_AGE_SECONDS = 3600
MAX_RETRY_ATTEMPTS = 8
DLQ_RETENTION_SECONDS = 14 * 24 * 3600


class CodeBundleError(ValueError):
    """A file the code bundle needs is missing."""


def code_bundle_files(root: Path = REPO_ROOT) -> dict[str, Path]:
    """Archive path -> file of the code bundle, in a stable order (caches and bytecode left out)."""
    files: dict[str, Path] = {}
    for source in CODE_BUNDLE_SOURCES:
        path = root / source
        if not path.exists():
            raise CodeBundleError(f"the release pipeline's code bundle needs {source}, which does not exist")
        found = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for item in found:
            relative = item.relative_to(root)
            if not SKIPPED_PARTS & set(relative.parts) and item.suffix != ".pyc":
                files[relative.as_posix()] = item
    return files


def code_bundle() -> pulumi.AssetArchive:
    """The bundle Pulumi uploads as the pipeline's `code` source (S3 sources must be zip files)."""
    return pulumi.AssetArchive({name: pulumi.FileAsset(str(path)) for name, path in code_bundle_files().items()})


def release_created_pattern(*, bucket: str, model_name: str) -> str:
    """S3's EventBridge event for a new version of the release object (PutObject, copy or multipart)."""
    pattern = {
        "source": ["aws.s3"],
        "detail-type": ["Object Created"],
        "detail": {"bucket": {"name": [bucket]}, "object": {"key": [release_object_key(model_name)]}},
    }
    return json.dumps(pattern, sort_keys=True)


def build_environment(
    *,
    model_name: str,
    registry_table: str,
    event_bus: str,
    repository_url: str,
    function_name: str,
    alias: str,
    account_id: str,
) -> dict[str, str]:
    """CodeBuild's environment: the deploy entry points' settings (core.settings.DeploySettings) and the
    plain names buildspec users expect."""
    return {
        EnvVar.MODEL_NAME.value: model_name,
        EnvVar.REGISTRY_TABLE.value: registry_table,
        EnvVar.EVENT_BUS.value: event_bus,
        EnvVar.SERVING_FUNCTION.value: function_name,
        EnvVar.SERVING_ALIAS.value: alias,
        EnvVar.ECR_REPOSITORY_URI.value: repository_url,
        "SERVING_REPOSITORY_URL": repository_url,
        "SERVING_FUNCTION_NAME": function_name,
        "SERVING_ALIAS": alias,
        "AWS_ACCOUNT_ID": account_id,
    }


def build_policy(
    *,
    repository_arn: str,
    function_arn: str,
    registry_table_arn: str,
    event_bus_arn: str,
    artifact_bucket_arn: str,
    log_group_arn: str,
) -> str:
    """CodeBuild's role: read the pipeline's artefacts, push the serving image, deploy the serving function and
    move its alias, record the deploy in the registry and on the bus, write its logs."""
    return policy_document(
        [
            Statement("ReadPipelineArtifacts", ["s3:GetObject", "s3:GetObjectVersion"], [f"{artifact_bucket_arn}/*"]),
            Statement("LocateArtifactBucket", ["s3:GetBucketAcl", "s3:GetBucketLocation"], [artifact_bucket_arn]),
            # AWS requires "*": a registry login token is account-wide (ECR has no resource type for it).
            any_resource_statement("LogInToRegistry", ["ecr:GetAuthorizationToken"]),
            Statement("PushServingImage", ECR_PUSH_ACTIONS, [repository_arn]),
            # The function, its versions and its aliases (`function:name:*`), not any other function.
            Statement("DeployServingFunction", LAMBDA_DEPLOY_ACTIONS, [function_arn, f"{function_arn}:*"]),
            Statement("RecordDeploy", REGISTRY_ACTIONS, [registry_table_arn]),
            Statement("QueryRegistry", ["dynamodb:Query"], table_and_index_arns(registry_table_arn, BY_STATUS_INDEX)),
            Statement("PublishEvents", ["events:PutEvents"], [event_bus_arn]),
            log_statement(log_group_arn),
        ]
    )


def pipeline_policy(
    *, model_bucket_arn: str, model_name: str, artifact_bucket_arn: str, project_arn: str, account_id: str
) -> str:
    """CodePipeline's role: read the release object and the code bundle, keep artefacts in its bucket, run the
    build (the S3 source actions' permissions as the CodePipeline guide lists them)."""
    own_account = {"StringEquals": {"aws:ResourceAccount": account_id}}
    return policy_document(
        [
            Statement(
                "ReadReleaseObject",
                SOURCE_READ_ACTIONS,
                [f"{model_bucket_arn}/{release_object_key(model_name)}"],
                condition=own_account,
            ),
            Statement("InspectModelBucket", SOURCE_BUCKET_ACTIONS, [model_bucket_arn], condition=own_account),
            Statement(
                "ReadWriteArtifacts",
                [*SOURCE_READ_ACTIONS, "s3:PutObject"],
                [f"{artifact_bucket_arn}/*"],
                condition=own_account,
            ),
            Statement("InspectArtifactBucket", SOURCE_BUCKET_ACTIONS, [artifact_bucket_arn], condition=own_account),
            Statement("RunDeployBuild", ["codebuild:BatchGetBuilds", "codebuild:StartBuild"], [project_arn]),
        ]
    )


def start_pipeline_policy(pipeline_arn: str) -> str:
    """EventBridge's role for the release rule: start this pipeline, nothing else."""
    return policy_document([Statement("StartDeployPipeline", ["codepipeline:StartPipelineExecution"], [pipeline_arn])])


def dead_letter_queue_policy(*, queue_arn: str, rule_arn: str) -> str:
    """EventBridge may dead-letter into the queue only for the release rule."""
    statement = Statement(
        "EventBridgeDeadLetters",
        ["sqs:SendMessage"],
        [queue_arn],
        principal={"Service": "events.amazonaws.com"},
        condition={"ArnEquals": {"aws:SourceArn": rule_arn}},
    )
    return policy_document([statement])


def pipeline_stages(
    *, model_bucket: str, model_name: str, artifact_bucket: str, project_name: str
) -> list[aws.codepipeline.PipelineStageArgsDict]:
    """Source (release + code, both S3, not polled) and Deploy (one CodeBuild action, `code` primary)."""

    def source(name: str, bucket: str, key: str) -> aws.codepipeline.PipelineStageActionArgsDict:
        return {
            "name": name,
            "category": "Source",
            "owner": "AWS",
            "provider": "S3",
            "version": "1",
            "output_artifacts": [name],
            "configuration": {"S3Bucket": bucket, "S3ObjectKey": key, "PollForSourceChanges": "false"},
        }

    deploy: aws.codepipeline.PipelineStageActionArgsDict = {
        "name": "BuildAndDeploy",
        "category": "Build",
        "owner": "AWS",
        "provider": "CodeBuild",
        "version": "1",
        "input_artifacts": [CODE_ARTIFACT, RELEASE_ARTIFACT],
        "configuration": {"ProjectName": project_name, "PrimarySource": CODE_ARTIFACT},
    }
    return [
        {
            "name": "Source",
            "actions": [
                source(RELEASE_ARTIFACT, model_bucket, release_object_key(model_name)),
                source(CODE_ARTIFACT, artifact_bucket, CODE_BUNDLE_KEY),
            ],
        },
        {"name": "Deploy", "actions": [deploy]},
    ]


@dataclass(frozen=True, slots=True)
class ReleasePipelineArgs:
    """Inputs of the ReleasePipeline component."""

    account_id: pulumi.Input[str]
    model_name: str
    model_bucket_name: pulumi.Input[str]
    model_bucket_arn: pulumi.Input[str]
    artifact_bucket_name: pulumi.Input[str]
    artifact_bucket_arn: pulumi.Input[str]
    registry_table_name: pulumi.Input[str]
    registry_table_arn: pulumi.Input[str]
    event_bus_name: pulumi.Input[str]
    event_bus_arn: pulumi.Input[str]
    repository_url: pulumi.Input[str]
    repository_arn: pulumi.Input[str]
    function_name: pulumi.Input[str]
    function_arn: pulumi.Input[str]
    alias: str
    log_retention_days: int


class ReleasePipeline(pulumi.ComponentResource):
    """Code bundle, CodeBuild project and role, the pipeline and its role, and the release rule that starts it."""

    project: aws.codebuild.Project
    pipeline: aws.codepipeline.Pipeline

    def __init__(self, name: str, args: ReleasePipelineArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("autoretrain:release:ReleasePipeline", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        bundle = aws.s3.BucketObjectv2(
            f"{name}-code-bundle",
            bucket=args.artifact_bucket_name,
            key=CODE_BUNDLE_KEY,
            source=code_bundle(),
            content_type="application/zip",
            opts=child,
        )
        log_group = aws.cloudwatch.LogGroup(f"{name}-build-logs", retention_in_days=args.log_retention_days, opts=child)
        build_role = aws.iam.Role(
            f"{name}-build-role",
            assume_role_policy=pulumi.Output.from_input(args.account_id).apply(
                lambda account: assume_role_policy("codebuild.amazonaws.com", source_account=account)
            ),
            opts=child,
        )
        build_role_policy = aws.iam.RolePolicy(
            f"{name}-build-policy",
            role=build_role.id,
            policy=pulumi.Output.all(
                args.repository_arn,
                args.function_arn,
                args.registry_table_arn,
                args.event_bus_arn,
                args.artifact_bucket_arn,
                log_group.arn,
            ).apply(
                lambda arns: build_policy(
                    repository_arn=arns[0],
                    function_arn=arns[1],
                    registry_table_arn=arns[2],
                    event_bus_arn=arns[3],
                    artifact_bucket_arn=arns[4],
                    log_group_arn=arns[5],
                )
            ),
            opts=child,
        )
        variables = pulumi.Output.all(
            args.registry_table_name, args.event_bus_name, args.repository_url, args.function_name, args.account_id
        ).apply(
            lambda values: [
                {"name": key, "value": value, "type": "PLAINTEXT"}
                for key, value in build_environment(
                    model_name=args.model_name,
                    registry_table=values[0],
                    event_bus=values[1],
                    repository_url=values[2],
                    function_name=values[3],
                    alias=args.alias,
                    account_id=values[4],
                ).items()
            ]
        )
        self.project = aws.codebuild.Project(
            f"{name}-build",
            description="autoretrain: verify a release, build and smoke-test the serving image, deploy it",
            service_role=build_role.arn,
            source={"type": "CODEPIPELINE", "buildspec": BUILDSPEC},
            artifacts={"type": "CODEPIPELINE"},
            environment=cast(
                aws.codebuild.ProjectEnvironmentArgsDict,
                {
                    "type": "LINUX_CONTAINER",
                    "compute_type": COMPUTE_TYPE,
                    "image": BUILD_IMAGE,
                    "image_pull_credentials_type": "CODEBUILD",
                    "privileged_mode": True,  # Docker builds need the Docker daemon
                    "environment_variables": variables,
                },
            ),
            build_timeout=BUILD_TIMEOUT_MINUTES,
            logs_config={
                "cloudwatch_logs": {"status": "ENABLED", "group_name": log_group.name},
                "s3_logs": {"status": "DISABLED"},
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[build_role_policy]),
        )
        pipeline_role = aws.iam.Role(
            f"{name}-pipeline-role",
            assume_role_policy=pulumi.Output.from_input(args.account_id).apply(
                lambda account: assume_role_policy("codepipeline.amazonaws.com", source_account=account)
            ),
            opts=child,
        )
        pipeline_role_policy = aws.iam.RolePolicy(
            f"{name}-pipeline-policy",
            role=pipeline_role.id,
            policy=pulumi.Output.all(
                args.model_bucket_arn, args.artifact_bucket_arn, self.project.arn, args.account_id
            ).apply(
                lambda values: pipeline_policy(
                    model_bucket_arn=values[0],
                    model_name=args.model_name,
                    artifact_bucket_arn=values[1],
                    project_arn=values[2],
                    account_id=values[3],
                )
            ),
            opts=child,
        )
        self.pipeline = aws.codepipeline.Pipeline(
            f"{name}-pipeline",
            pipeline_type="V2",
            # Each release is deployed in turn (SUPERSEDED could skip one, and its registry record would stay
            # "released" without ever becoming champion).
            execution_mode="QUEUED",
            role_arn=pipeline_role.arn,
            artifact_stores=[{"location": args.artifact_bucket_name, "type": "S3"}],
            stages=pulumi.Output.all(args.model_bucket_name, args.artifact_bucket_name, self.project.name).apply(
                lambda values: pipeline_stages(
                    model_bucket=values[0],
                    model_name=args.model_name,
                    artifact_bucket=values[1],
                    project_name=values[2],
                )
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[pipeline_role_policy, bundle]),
        )
        self._release_trigger(name, args)
        self.register_outputs(
            {"pipeline": self.pipeline.name, "project": self.project.name, "code_bundle_key": bundle.key}
        )

    def _release_trigger(self, name: str, args: ReleasePipelineArgs) -> None:
        child = pulumi.ResourceOptions(parent=self)
        rule = aws.cloudwatch.EventRule(
            f"{name}-release-created",
            description="autoretrain: a new release object version -> the deploy pipeline",
            event_pattern=pulumi.Output.from_input(args.model_bucket_name).apply(
                lambda bucket: release_created_pattern(bucket=bucket, model_name=args.model_name)
            ),
            opts=child,
        )
        starter = aws.iam.Role(
            f"{name}-starter-role",
            assume_role_policy=pulumi.Output.from_input(args.account_id).apply(
                lambda account: assume_role_policy("events.amazonaws.com", source_account=account)
            ),
            opts=child,
        )
        starter_policy = aws.iam.RolePolicy(
            f"{name}-starter-policy",
            role=starter.id,
            policy=self.pipeline.arn.apply(start_pipeline_policy),
            opts=child,
        )
        dead_letters = aws.sqs.Queue(
            f"{name}-dead-letters",
            sqs_managed_sse_enabled=True,
            message_retention_seconds=DLQ_RETENTION_SECONDS,
            opts=child,
        )
        aws.sqs.QueuePolicy(
            f"{name}-dead-letters-policy",
            queue_url=dead_letters.url,
            policy=pulumi.Output.all(dead_letters.arn, rule.arn).apply(
                lambda arns: dead_letter_queue_policy(queue_arn=arns[0], rule_arn=arns[1])
            ),
            opts=child,
        )
        aws.cloudwatch.EventTarget(
            f"{name}-release-created-target",
            rule=rule.name,
            arn=self.pipeline.arn,
            role_arn=starter.arn,
            dead_letter_config={"arn": dead_letters.arn},
            retry_policy={
                "maximum_event_age_in_seconds": MAX_EVENT_AGE_SECONDS,
                "maximum_retry_attempts": MAX_RETRY_ATTEMPTS,
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[starter_policy]),
        )
