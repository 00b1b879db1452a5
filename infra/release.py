"""ReleasePipeline: a new version of `release/<m>.zip` in the model bucket deploys it to the serving Lambda.

CodePipeline (V2) has two S3 sources on versioned buckets, neither polled: `release` (the release object the retrain
job or `autoretrain rollback` writes) and `code` (a bundle of the serving code and `buildspec.yml` that Pulumi
uploads to the artifact bucket). The model bucket sends its object events to EventBridge (Storage turns that on);
a rule on the default bus starts the pipeline when the release object is created. One CodeBuild action (privileged:
it builds the serving image) runs `buildspec.yml` from the `code` artifact, its primary source (CodeBuild reads
the buildspec from the primary source only); the release files are in `$CODEBUILD_SRC_DIR_release`.

Canary: the build's environment names the serving alarms (`infra.dashboard`), the share of traffic and the bake time
(`deploy.alias.shift_alias`); its role may read those alarms' state, and its time limit grows by the bake time.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import cast

import pulumi
import pulumi_aws as aws

from core.layout import release_object_key
from core.settings import EnvVar
from core.tables import BY_STATUS_INDEX
from infra.code_bundle import BUILDSPEC, CODE_BUNDLE_KEY, uploaded_code_bundle
from infra.dead_letters import (
    EVENTS_SERVICE,
    dead_letter_queue,
    eventbridge_dead_letter_policy,
    retried_event_target,
)
from infra.policies import Statement, any_resource_statement, log_statement, policy_document, table_and_index_arns
from infra.roles import service_role

BUILD_IMAGE = "aws/codebuild/amazonlinux-x86_64-standard:5.0"  # Amazon Linux 2023, x86_64, Docker included
COMPUTE_TYPE = "BUILD_GENERAL1_MEDIUM"  # 7 GB: the serving image build and its smoke test load the numeric stack
BUILD_TIMEOUT_MINUTES = 60  # the build without a canary: verify, image build, smoke test, push, deploy
#: CodeBuild's largest build timeout (36 hours); a canary's bake time comes on top of BUILD_TIMEOUT_MINUTES.
MAX_BUILD_TIMEOUT_MINUTES = 2160
MAX_CANARY_MINUTES = MAX_BUILD_TIMEOUT_MINUTES - BUILD_TIMEOUT_MINUTES
RELEASE_ARTIFACT = "release"
CODE_ARTIFACT = "code"
CODEBUILD_SERVICE = "codebuild.amazonaws.com"
CODEPIPELINE_SERVICE = "codepipeline.amazonaws.com"
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
#: The canary polls its alarms' state (`deploy.alias.ServingFunction.firing`); IAM scopes it to alarm ARNs.
ALARM_READ_ACTIONS = ("cloudwatch:DescribeAlarms",)


@dataclass(frozen=True, slots=True)
class Canary:
    """A canary deploy: `percent` % of the alias's traffic on the new version for `minutes` (percent 0: off)."""

    percent: int
    minutes: int

    @property
    def enabled(self) -> bool:
        """Whether the alias shifts through a canary (else all at once)."""
        return self.percent > 0


def build_timeout_minutes(canary: Canary) -> int:
    """The build's time limit: the build itself plus the canary's bake time when there is one."""
    return BUILD_TIMEOUT_MINUTES + (canary.minutes if canary.enabled else 0)


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
    canary: Canary,
    deploy_alarms: Sequence[str],
) -> dict[str, str]:
    """CodeBuild's environment: the deploy entry points' settings (core.settings.DeploySettings, the canary's
    included) and the plain names buildspec users expect."""
    return {
        EnvVar.MODEL_NAME.value: model_name,
        EnvVar.REGISTRY_TABLE.value: registry_table,
        EnvVar.EVENT_BUS.value: event_bus,
        EnvVar.SERVING_FUNCTION.value: function_name,
        EnvVar.SERVING_ALIAS.value: alias,
        EnvVar.ECR_REPOSITORY_URI.value: repository_url,
        EnvVar.DEPLOY_ALARMS.value: ",".join(deploy_alarms),
        EnvVar.CANARY_PERCENT.value: str(canary.percent),
        EnvVar.CANARY_MINUTES.value: str(canary.minutes),
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
    alarm_arns: Sequence[str],
) -> str:
    """CodeBuild's role: read the pipeline's artefacts, push the serving image, deploy the serving function and
    move its alias, watch the canary's alarms, record the deploy in the registry and on the bus, write its logs."""
    return policy_document(
        [
            Statement("ReadPipelineArtifacts", ["s3:GetObject", "s3:GetObjectVersion"], [f"{artifact_bucket_arn}/*"]),
            Statement("LocateArtifactBucket", ["s3:GetBucketAcl", "s3:GetBucketLocation"], [artifact_bucket_arn]),
            # AWS requires "*": a registry login token is account-wide (ECR has no resource type for it).
            any_resource_statement("LogInToRegistry", ["ecr:GetAuthorizationToken"]),
            Statement("PushServingImage", ECR_PUSH_ACTIONS, [repository_arn]),
            # The function, its versions and its aliases (`function:name:*`), not any other function.
            Statement("DeployServingFunction", LAMBDA_DEPLOY_ACTIONS, [function_arn, f"{function_arn}:*"]),
            *([Statement("WatchCanaryAlarms", ALARM_READ_ACTIONS, alarm_arns)] if alarm_arns else []),
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
    canary: Canary
    #: The alarms a canary watches (`infra.dashboard.Dashboard.deploy_alarms`): names for the build, ARNs for its role.
    deploy_alarm_names: Sequence[pulumi.Input[str]]
    deploy_alarm_arns: Sequence[pulumi.Input[str]]


class ReleasePipeline(pulumi.ComponentResource):
    """Code bundle, CodeBuild project and role, the pipeline and its role, and the release rule that starts it."""

    project: aws.codebuild.Project
    pipeline: aws.codepipeline.Pipeline

    def __init__(self, name: str, args: ReleasePipelineArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("autoretrain:release:ReleasePipeline", name, None, opts)
        bundle = uploaded_code_bundle(f"{name}-code-bundle", args.artifact_bucket_name, self)
        self.project = self._build_project(name, args)
        pipeline_role = service_role(
            f"{name}-pipeline",
            CODEPIPELINE_SERVICE,
            pulumi.Output.all(
                model_bucket_arn=args.model_bucket_arn,
                artifact_bucket_arn=args.artifact_bucket_arn,
                project_arn=self.project.arn,
                account_id=args.account_id,
            ).apply(lambda values: pipeline_policy(model_name=args.model_name, **values)),
            parent=self,
            source_account=args.account_id,
        )
        self.pipeline = aws.codepipeline.Pipeline(
            f"{name}-pipeline",
            pipeline_type="V2",
            # Each release is deployed in turn (SUPERSEDED could skip one, and its registry record would stay
            # "released" without ever becoming champion).
            execution_mode="QUEUED",
            role_arn=pipeline_role.role.arn,
            artifact_stores=[{"location": args.artifact_bucket_name, "type": "S3"}],
            stages=pulumi.Output.all(
                model_bucket=args.model_bucket_name,
                artifact_bucket=args.artifact_bucket_name,
                project_name=self.project.name,
            ).apply(lambda values: pipeline_stages(model_name=args.model_name, **values)),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[pipeline_role.policy, bundle]),
        )
        self._release_trigger(name, args)
        self.register_outputs(
            {"pipeline": self.pipeline.name, "project": self.project.name, "code_bundle_key": bundle.key}
        )

    def _build_project(self, name: str, args: ReleasePipelineArgs) -> aws.codebuild.Project:
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-build-logs", retention_in_days=args.log_retention_days, opts=pulumi.ResourceOptions(parent=self)
        )
        build_role = service_role(
            f"{name}-build",
            CODEBUILD_SERVICE,
            pulumi.Output.all(
                repository_arn=args.repository_arn,
                function_arn=args.function_arn,
                registry_table_arn=args.registry_table_arn,
                event_bus_arn=args.event_bus_arn,
                artifact_bucket_arn=args.artifact_bucket_arn,
                log_group_arn=log_group.arn,
                alarm_arns=pulumi.Output.all(*args.deploy_alarm_arns),
            ).apply(lambda arns: build_policy(**arns)),
            parent=self,
            source_account=args.account_id,
        )
        variables = pulumi.Output.all(
            registry_table=args.registry_table_name,
            event_bus=args.event_bus_name,
            repository_url=args.repository_url,
            function_name=args.function_name,
            account_id=args.account_id,
            deploy_alarms=pulumi.Output.all(*args.deploy_alarm_names),
        ).apply(
            lambda values: [
                {"name": key, "value": value, "type": "PLAINTEXT"}
                for key, value in build_environment(
                    model_name=args.model_name, alias=args.alias, canary=args.canary, **values
                ).items()
            ]
        )
        return aws.codebuild.Project(
            f"{name}-build",
            description="autoretrain: verify a release, build and smoke-test the serving image, deploy it",
            service_role=build_role.role.arn,
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
            build_timeout=build_timeout_minutes(args.canary),
            logs_config={
                "cloudwatch_logs": {"status": "ENABLED", "group_name": log_group.name},
                "s3_logs": {"status": "DISABLED"},
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[build_role.policy]),
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
        starter = service_role(
            f"{name}-starter",
            EVENTS_SERVICE,
            self.pipeline.arn.apply(start_pipeline_policy),
            parent=self,
            source_account=args.account_id,
        )
        dead_letters = dead_letter_queue(f"{name}-dead-letters", self)
        aws.sqs.QueuePolicy(
            f"{name}-dead-letters-policy",
            queue_url=dead_letters.url,
            policy=pulumi.Output.all(queue_arn=dead_letters.arn, rule_arns=rule.arn).apply(
                lambda arns: eventbridge_dead_letter_policy(**arns)
            ),
            opts=child,
        )
        retried_event_target(
            f"{name}-release-created-target",
            rule,
            dead_letter_queue_arn=dead_letters.arn,
            opts=pulumi.ResourceOptions(parent=self, depends_on=[starter.policy]),
            arn=self.pipeline.arn,
            role_arn=starter.role.arn,
        )
