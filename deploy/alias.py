"""`shift-alias`: the serving function runs the new image behind its alias, all at once or through a canary.

All at once: `update_function_code` to the image (by digest), wait until the update succeeded, `publish_version`,
`update_alias` to that version. The previous version the alias pointed at is returned (and recorded by the
pipeline), so the old model is one `update_alias` away.

Canary (when alarms, a percentage and a bake time are configured): the alias keeps the previous version and
sends `percent` % of invocations to the new one (`RoutingConfig.AdditionalVersionWeights`); the alarms are polled
for the bake time; if any is in ALARM the alias goes back to the previous version alone and the shift fails,
otherwise the alias moves to the new version entirely.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError, WaiterError

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch import CloudWatchClient
    from mypy_boto3_ecr import ECRClient
    from mypy_boto3_lambda import LambdaClient


class DeployError(RuntimeError):
    """A deployment step failed; the alias is where it was before the step (or rolled back to it)."""


class CanaryRolledBackError(DeployError):
    """An alarm fired during the canary; the alias was moved back to the previous version."""


@dataclass(frozen=True, slots=True)
class CanaryPlan:
    """Send `percent` % of traffic to the new version for `bake_seconds`, polling `alarms` every `poll_seconds`."""

    percent: int
    bake_seconds: float
    alarms: tuple[str, ...]
    poll_seconds: float = 30.0

    def __post_init__(self) -> None:
        if not 0 < self.percent < 100 or self.bake_seconds <= 0 or not self.alarms or self.poll_seconds <= 0:
            raise ValueError("a canary needs 0 < percent < 100, a positive bake time and poll interval, and alarms")


@dataclass(frozen=True, slots=True)
class ShiftResult:
    """Where the alias pointed before and after."""

    function_version: str
    previous_function_version: str | None
    image_uri: str
    mode: str

    def to_json(self) -> dict[str, Any]:
        """The result as a JSON object (the pipeline's state file)."""
        return {
            "function_version": self.function_version,
            "previous_function_version": self.previous_function_version,
            "image_uri": self.image_uri,
            "mode": self.mode,
        }


def _code(error: ClientError) -> str:
    return str(error.response.get("Error", {}).get("Code", ""))


class ImageRepository:
    """Resolves an image tag in an ECR repository to an immutable `repo@sha256:...` reference."""

    def __init__(self, ecr: ECRClient, repository_uri: str) -> None:
        self._ecr = ecr
        self._uri = repository_uri
        self._name = repository_uri.split("/", 1)[1] if "/" in repository_uri else repository_uri

    def resolve(self, tag: str) -> str:
        """`<repository uri>@<digest>` of the image tagged `tag`; DeployError if there is none."""
        try:
            images = self._ecr.describe_images(repositoryName=self._name, imageIds=[{"imageTag": tag}])
        except (ClientError, BotoCoreError) as error:
            raise DeployError(f"image {self._uri}:{tag} not found: {error}") from error
        details = images.get("imageDetails", [])
        if not details:
            raise DeployError(f"image {self._uri}:{tag} not found")
        return f"{self._uri}@{details[0]['imageDigest']}"


class ServingFunction:
    """The serving Lambda function and its alias (Lambda and CloudWatch clients)."""

    def __init__(self, lambda_client: LambdaClient, cloudwatch: CloudWatchClient, function_name: str) -> None:
        self._lambda = lambda_client
        self._cloudwatch = cloudwatch
        self.name = function_name

    def alias_version(self, alias: str) -> str | None:
        """The version the alias points at, or None if the alias does not exist yet."""
        try:
            return self._lambda.get_alias(FunctionName=self.name, Name=alias)["FunctionVersion"]
        except ClientError as error:
            if _code(error) == "ResourceNotFoundException":
                return None
            raise DeployError(f"reading alias {self.name}:{alias} failed: {error}") from error

    def deploy_image(self, image_uri: str, description: str) -> str:
        """Update the function's image, wait for the update, publish a version; return the version."""
        try:
            self._lambda.update_function_code(FunctionName=self.name, ImageUri=image_uri)
            self._lambda.get_waiter("function_updated_v2").wait(
                FunctionName=self.name, WaiterConfig={"Delay": 5, "MaxAttempts": 120}
            )
            published = self._lambda.publish_version(FunctionName=self.name, Description=description[:256])
        except WaiterError as error:
            raise DeployError(f"{self.name} did not finish updating to {image_uri}: {error}") from error
        except (ClientError, BotoCoreError) as error:
            raise DeployError(f"updating {self.name} to {image_uri} failed: {error}") from error
        return published["Version"]

    def point_alias(self, alias: str, version: str, canary: tuple[str, float] | None = None) -> None:
        """Point (or create) the alias at `version`, optionally with a weighted share for a canary version."""
        routing: Any = {"AdditionalVersionWeights": {canary[0]: canary[1]} if canary else {}}
        try:
            self._lambda.update_alias(
                FunctionName=self.name, Name=alias, FunctionVersion=version, RoutingConfig=routing
            )
        except ClientError as error:
            if _code(error) != "ResourceNotFoundException" or canary is not None:
                raise DeployError(f"moving alias {self.name}:{alias} to {version} failed: {error}") from error
            try:
                self._lambda.create_alias(FunctionName=self.name, Name=alias, FunctionVersion=version)
            except ClientError as create_error:
                raise DeployError(f"creating alias {self.name}:{alias} failed: {create_error}") from create_error

    def firing(self, alarms: Sequence[str]) -> list[str]:
        """The alarms among `alarms` that are in ALARM."""
        try:
            response = self._cloudwatch.describe_alarms(AlarmNames=list(alarms))
        except (ClientError, BotoCoreError) as error:
            raise DeployError(f"reading alarms {list(alarms)} failed: {error}") from error
        found = [*response.get("MetricAlarms", []), *response.get("CompositeAlarms", [])]
        missing = sorted(set(alarms) - {alarm["AlarmName"] for alarm in found})
        if missing:
            raise DeployError(f"alarms {missing} do not exist: the canary cannot be watched")
        return sorted(alarm["AlarmName"] for alarm in found if alarm["StateValue"] == "ALARM")


def shift_alias(
    function: ServingFunction,
    *,
    alias: str,
    image_uri: str,
    description: str,
    canary: CanaryPlan | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> ShiftResult:
    """Deploy `image_uri` behind `alias` (see the module docstring); raises DeployError, CanaryRolledBackError."""
    previous = function.alias_version(alias)
    version = function.deploy_image(image_uri, description)
    if previous == version:
        return ShiftResult(version, previous, image_uri, "unchanged")
    if canary is None or previous is None:
        function.point_alias(alias, version)
        return ShiftResult(version, previous, image_uri, "all-at-once")
    function.point_alias(alias, previous, canary=(version, canary.percent / 100.0))
    deadline = clock() + canary.bake_seconds
    while True:
        firing = function.firing(canary.alarms)
        if firing:
            function.point_alias(alias, previous)
            raise CanaryRolledBackError(
                f"alarms {firing} fired while {canary.percent}% of {function.name}:{alias} ran version {version}; "
                f"the alias is back on version {previous}"
            )
        if clock() >= deadline:
            break
        sleep(min(canary.poll_seconds, max(0.0, deadline - clock())))
    function.point_alias(alias, version)
    return ShiftResult(version, previous, image_uri, f"canary {canary.percent}% for {canary.bake_seconds:g}s")
