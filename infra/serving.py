"""Serving: the ECR repository, a bootstrap image, the container-image Lambda and its `live` alias.

The release pipeline (a later issue) builds each released model's image, pushes it and moves the alias. This
component only has to create the function once, which needs an image to exist: the bootstrap image built from
the same Dockerfile. Later `pulumi up`s must not revert what the pipeline deployed, hence `ignore_changes` on the
function's image and on the alias's version.

The stack's live-evaluation settings reach the function as environment variables (`serving_environment`): the
control share always, the client-id feature when set, and the shadow directory (the image's `/opt/shadow`) when
shadowing is on. A release image built without a challenger there simply has no shadow.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_docker_build as docker_build

from core.settings import SHADOW_MODEL_DIR, EnvVar
from infra.images import REPO_ROOT, content_tag, image_uri_by_digest, private_repository, pushed_image
from infra.policies import serving_policy
from infra.roles import LAMBDA_SERVICE, service_role

DOCKERFILE = "lambdas/serving/Dockerfile"
ARCHITECTURE = "x86_64"
PLATFORM = docker_build.Platform.LINUX_AMD64
TIMEOUT_SECONDS = 30
ALIAS_NAME = "live"
BOOTSTRAP_TAG_PREFIX = "bootstrap-"
#: Python argument names: the SDK translates them to the schema's names (`imageUri`, `functionVersion`) before the
#: engine sees them (pulumi/runtime/resource.py `_translate_ignore_changes`); the infra tests check what it receives.
IGNORED_FUNCTION_PROPERTIES = ["image_uri"]
IGNORED_ALIAS_PROPERTIES = ["function_version"]
#: Lambda's advanced logging (JSON). The system level WARN drops the platform's per-invocation START and REPORT
#: lines (INFO events: the "Log-level filtering" page of the Lambda Developer Guide) while keeping its warnings (an
#: invocation that failed, timed out or ran out of memory); durations, errors and throttles stay in the function's
#: CloudWatch metrics. The application level is WARN too: serving's per-invocation INFO lines (`served`, a rejected
#: request's problems, which the 400 response carries) would be most of the stack's CloudWatch Logs bill at volume
#: (about 200 bytes an invocation: 60 GB a month at 10 million single-instance requests a day).
SYSTEM_LOG_LEVEL = "WARN"
APPLICATION_LOG_LEVEL = "WARN"


@dataclass(frozen=True, slots=True)
class ServingArgs:
    """Inputs of the Serving component."""

    payload_stream_name: pulumi.Input[str]
    payload_stream_arn: pulumi.Input[str]
    model_name: str
    memory_mb: int
    keep_images: int
    log_retention_days: int
    control_share: float = 0.0
    client_id_feature: str = ""
    shadow_enabled: bool = False


def lambda_image_uri(repository_url: str, digest: str) -> str:
    """`repo@sha256:...`: Lambda accepts a tag or a digest but not both (docker-build's `ref` has both)."""
    return image_uri_by_digest(repository_url, digest)


def serving_environment(
    *,
    payload_stream: str,
    model_name: str,
    control_share: float = 0.0,
    client_id_feature: str = "",
    shadow_enabled: bool = False,
) -> dict[str, str]:
    """The deployment contract's variables the serving handler reads (`core.settings.ServingSettings`): the stream,
    the model, the control share, and the client-id feature and shadow directory where they are set."""
    variables = {
        EnvVar.PAYLOAD_STREAM.value: payload_stream,
        EnvVar.MODEL_NAME.value: model_name,
        EnvVar.CONTROL_SHARE.value: repr(float(control_share)),
    }
    if client_id_feature:
        variables[EnvVar.CLIENT_ID_FEATURE.value] = client_id_feature
    if shadow_enabled:
        variables[EnvVar.SHADOW_DIR.value] = SHADOW_MODEL_DIR
    return variables


class Serving(pulumi.ComponentResource):
    """ECR repository, bootstrap image, serving function (its own role and log group) and the `live` alias."""

    repository: aws.ecr.Repository
    function: aws.lambda_.Function
    alias: aws.lambda_.Alias

    def __init__(self, name: str, args: ServingArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("autoretrain:serving:Serving", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.repository = private_repository(f"{name}-repository", args.keep_images, self)
        image = pushed_image(
            f"{name}-bootstrap-image",
            repository=self.repository,
            dockerfile_path=DOCKERFILE,
            tag=content_tag(REPO_ROOT, DOCKERFILE, BOOTSTRAP_TAG_PREFIX),
            platform=PLATFORM,
            parent=self,
        )
        log_group = aws.cloudwatch.LogGroup(f"{name}-logs", retention_in_days=args.log_retention_days, opts=child)
        role = service_role(
            name,
            LAMBDA_SERVICE,
            pulumi.Output.all(stream_arn=args.payload_stream_arn, log_group_arn=log_group.arn).apply(
                lambda arns: serving_policy(**arns)
            ),
            parent=self,
        )
        self.function = aws.lambda_.Function(
            f"{name}-function",
            package_type="Image",
            image_uri=pulumi.Output.all(self.repository.repository_url, image.digest).apply(
                lambda parts: lambda_image_uri(parts[0], parts[1])
            ),
            architectures=[ARCHITECTURE],
            role=role.role.arn,
            memory_size=args.memory_mb,
            timeout=TIMEOUT_SECONDS,
            publish=True,
            environment={
                "variables": pulumi.Output.from_input(args.payload_stream_name).apply(
                    lambda stream: serving_environment(
                        payload_stream=stream,
                        model_name=args.model_name,
                        control_share=args.control_share,
                        client_id_feature=args.client_id_feature,
                        shadow_enabled=args.shadow_enabled,
                    )
                )
            },
            logging_config={
                "log_format": "JSON",
                "log_group": log_group.name,
                "system_log_level": SYSTEM_LOG_LEVEL,
                "application_log_level": APPLICATION_LOG_LEVEL,
            },
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[role.policy], ignore_changes=IGNORED_FUNCTION_PROPERTIES
            ),
        )
        self.alias = aws.lambda_.Alias(
            f"{name}-alias",
            name=ALIAS_NAME,
            function_name=self.function.name,
            function_version=self.function.version,
            opts=pulumi.ResourceOptions(parent=self, ignore_changes=IGNORED_ALIAS_PROPERTIES),
        )
        self.register_outputs(
            {
                "repository_url": self.repository.repository_url,
                "function": self.function.name,
                "alias_arn": self.alias.arn,
            }
        )
