"""Run the Pulumi program under `pulumi.runtime.set_mocks` and record every resource it registers.

Used by `autoretrain plan` and the infra tests. Nothing here contacts AWS: the mocks answer each registration
with realistic outputs (names, ARNs, URLs in a fake account) so that policies built from them look like the
real thing to the IAM analysers.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import yaml
from pulumi.runtime import rpc
from pulumi.runtime.mocks import MockCallArgs, MockMonitor, MockResourceArgs, Mocks

from infra.config import load_settings
from infra.stack import build

MOCK_ACCOUNT = "123456789012"
PROJECT = "autoretrain"
DEFAULT_STACK = "dev"
PROVIDER_TYPE_PREFIX = "pulumi:providers:"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"


class StackConfigError(ValueError):
    """A stack config file cannot be read."""


@dataclass(frozen=True, slots=True)
class RecordedAlias:
    """A former identity the engine is to treat as this resource: a whole URN, or the parts of one that changed
    (empty: unchanged)."""

    urn: str = ""
    name: str = ""
    type: str = ""


@dataclass(frozen=True, slots=True)
class RecordedResource:
    """One registration as the engine would receive it: type, name, inputs and the options that matter here."""

    urn: str
    id: str
    type: str
    name: str
    inputs: Mapping[str, Any]
    outputs: Mapping[str, Any]
    custom: bool
    parent: str
    provider: str
    ignore_changes: tuple[str, ...]
    dependencies: tuple[str, ...]
    aliases: tuple[RecordedAlias, ...] = ()

    @property
    def is_provider(self) -> bool:
        """Whether this is a provider resource."""
        return self.type.startswith(PROVIDER_TYPE_PREFIX)


@dataclass(slots=True)
class Recording:
    """Every resource registered in one program run, in registration order, and the stack's exports."""

    resources: list[RecordedResource] = field(default_factory=list)
    exports: dict[str, Any] = field(default_factory=dict)

    def of_type(self, type_token: str) -> list[RecordedResource]:
        """Resources of one type token."""
        return [resource for resource in self.resources if resource.type == type_token]

    def by_urn(self, urn: str) -> RecordedResource:
        """The resource with this URN."""
        for resource in self.resources:
            if resource.urn == urn:
                return resource
        raise KeyError(urn)

    def find(self, type_token: str, name: str) -> RecordedResource:
        """The resource with this type and logical name."""
        for resource in self.of_type(type_token):
            if resource.name == name:
                return resource
        raise KeyError(f"{type_token} {name}")

    def role_policy(self, role_arn: str) -> RecordedResource:
        """The inline policy of the role with this ARN (each role has exactly one)."""
        (role,) = [role for role in self.of_type(ROLE) if role.outputs["arn"] == role_arn]
        (policy,) = [policy for policy in self.of_type(ROLE_POLICY) if policy.inputs["role"] == role.outputs["name"]]
        return policy


#: Types whose outputs are their name and an ARN `arn:aws:<service>:<region>:<account>:<template>` (the template
#: may name the resource's inputs too, e.g. a table's `databaseName`).
NAMED_ARNS: dict[str, tuple[str, str]] = {
    "aws:dynamodb/table:Table": ("dynamodb", "table/{name}"),
    "aws:cloudwatch/logGroup:LogGroup": ("logs", "log-group:{name}"),
    "aws:cloudwatch/logStream:LogStream": ("logs", "log-group:{logGroupName}:log-stream:{name}"),
    "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream": ("firehose", "deliverystream/{name}"),
    "aws:sns/topic:Topic": ("sns", "{name}"),
    "aws:cloudwatch/eventBus:EventBus": ("events", "event-bus/{name}"),
    "aws:batch/computeEnvironment:ComputeEnvironment": ("batch", "compute-environment/{name}"),
    "aws:batch/jobQueue:JobQueue": ("batch", "job-queue/{name}"),
    "aws:scheduler/scheduleGroup:ScheduleGroup": ("scheduler", "schedule-group/{name}"),
    "aws:codebuild/project:Project": ("codebuild", "project/{name}"),
    "aws:codepipeline/pipeline:Pipeline": ("codepipeline", "{name}"),
    "aws:cloudwatch/metricAlarm:MetricAlarm": ("cloudwatch", "alarm:{name}"),
    "aws:glue/catalogDatabase:CatalogDatabase": ("glue", "database/{name}"),
    "aws:athena/workgroup:Workgroup": ("athena", "workgroup/{name}"),
    "aws:glue/catalogTable:CatalogTable": ("glue", "table/{databaseName}/{name}"),
}


def _suffix(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:7]


class StackMocks(Mocks):
    """Outputs shaped like AWS's for the resource types the program uses; inputs are echoed for the rest."""

    def __init__(self, region: str, account: str = MOCK_ACCOUNT) -> None:
        self.region = region
        self.account = account

    def _arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.region}:{self.account}:{resource}"

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        """Answer a registration with a physical id and outputs."""
        state = dict(args.inputs)
        physical = state.get("name") or f"{args.name}-{_suffix(args.name)}"
        if args.typ in NAMED_ARNS:
            service, template = NAMED_ARNS[args.typ]
            resource = template.format_map({**state, "name": physical})
            extra: dict[str, Any] = {"name": physical, "arn": self._arn(service, resource)}
        else:
            physical, extra = self._special(args, state, physical)
        return f"{physical}-id" if args.typ.startswith(PROVIDER_TYPE_PREFIX) else physical, {**state, **extra}

    def _special(self, args: MockResourceArgs, state: dict[str, Any], physical: str) -> tuple[str, dict[str, Any]]:
        """Outputs of the types whose names or ARNs need more than a template."""
        extra: dict[str, Any] = {}
        match args.typ:
            case "aws:s3/bucket:Bucket":
                physical = physical.lower()
                extra = {"bucket": physical, "arn": f"arn:aws:s3:::{physical}"}
            case "aws:iam/role:Role" | "aws:iam/policy:Policy":
                kind = args.typ.rsplit(":", 1)[-1].lower()  # role/<name>, policy/<name>
                extra = {"name": physical, "arn": f"arn:aws:iam::{self.account}:{kind}/{physical}"}
            case "aws:sqs/queue:Queue":
                extra = {
                    "name": physical,
                    "arn": self._arn("sqs", physical),
                    "url": f"https://sqs.{self.region}.amazonaws.com/{self.account}/{physical}",
                }
            case "aws:lambda/function:Function":
                arn = self._arn("lambda", f"function:{physical}")
                extra = {"name": physical, "arn": arn, "version": "1", "qualifiedArn": f"{arn}:1"}
            case "aws:lambda/alias:Alias":
                extra = {"arn": self._arn("lambda", f"function:{state['functionName']}:{physical}")}
            case "aws:ecr/repository:Repository":
                physical = physical.lower()
                extra = {
                    "name": physical,
                    "arn": self._arn("ecr", f"repository/{physical}"),
                    "registryId": self.account,
                    "repositoryUrl": f"{self.account}.dkr.ecr.{self.region}.amazonaws.com/{physical}",
                }
            case "aws:kms/key:Key":
                physical = hashlib.sha256(args.name.encode()).hexdigest()[:32]
                extra = {"keyId": physical, "arn": self._arn("kms", f"key/{physical}")}
            case "aws:cloudwatch/eventRule:EventRule":
                bus = state.get("eventBusName")
                path = f"rule/{bus}/{physical}" if bus and bus != "default" else f"rule/{physical}"
                extra = {"name": physical, "arn": self._arn("events", path)}
            case "aws:batch/jobDefinition:JobDefinition":
                extra = {"name": physical, "revision": 1, "arn": self._arn("batch", f"job-definition/{physical}:1")}
            case "aws:scheduler/schedule:Schedule":
                group = state.get("groupName", "default")
                extra = {"name": physical, "arn": self._arn("scheduler", f"schedule/{group}/{physical}")}
            case "aws:ec2/vpc:Vpc" | "aws:ec2/subnet:Subnet" | "aws:ec2/securityGroup:SecurityGroup":
                kind = args.typ.split(":")[-1].lower()
                physical = f"{kind}-{_suffix(args.name)}"
                extra = {"arn": self._arn("ec2", f"{kind}/{physical}")}
            case "docker-build:index:Image":
                digest = "sha256:" + hashlib.sha256(args.name.encode()).hexdigest()
                extra = {"digest": digest, "ref": f"{state['tags'][0]}@{digest}"}
        return physical, extra

    def call(self, args: MockCallArgs) -> tuple[dict[str, Any], list[tuple[str, str]] | None]:
        """Answer the data-source calls the program makes; any other call is a test failure."""
        answers: dict[str, dict[str, Any]] = {
            "aws:index/getCallerIdentity:getCallerIdentity": {
                "accountId": self.account,
                "arn": f"arn:aws:iam::{self.account}:user/mock",
                "userId": "AIDAMOCK",
                "id": self.account,
            },
            "aws:index/getAvailabilityZones:getAvailabilityZones": {
                "id": self.region,
                "names": [f"{self.region}a", f"{self.region}b", f"{self.region}c"],
                "zoneIds": ["zone-1", "zone-2", "zone-3"],
                "groupNames": [self.region],
            },
            "aws:ecr/getAuthorizationToken:getAuthorizationToken": {
                "authorizationToken": "bW9jazptb2Nr",
                "expiresAt": "2100-01-01T00:00:00Z",
                "id": self.region,
                "password": "mock-password",
                "proxyEndpoint": f"https://{self.account}.dkr.ecr.{self.region}.amazonaws.com",
                "userName": "AWS",
            },
        }
        if args.token not in answers:
            raise NotImplementedError(f"the mocks do not answer {args.token}")
        # An empty failure list, not None: the mock monitor iterates over it.
        return answers[args.token], []


class RecordingMonitor(MockMonitor):
    """The mock monitor, also keeping what each registration asked for (inputs, provider, ignore_changes...)."""

    def __init__(self, mocks: Mocks, recording: Recording) -> None:
        super().__init__(mocks)
        self.recording = recording

    def RegisterResource(self, request: Any) -> Any:  # noqa: N802 (the gRPC method's name)
        """Register as the mock monitor does, then record the request."""
        response = super().RegisterResource(request)  # type: ignore[no-untyped-call]
        if request.type != "pulumi:pulumi:Stack":
            registration = self.resources[response.urn]
            self.recording.resources.append(
                RecordedResource(
                    urn=response.urn,
                    id=response.id,
                    type=request.type,
                    name=request.name,
                    inputs=rpc.deserialize_properties(request.object),
                    outputs=registration.state,
                    custom=bool(request.custom),
                    parent=request.parent,
                    provider=request.provider,
                    ignore_changes=tuple(request.ignoreChanges),
                    dependencies=tuple(request.dependencies),
                    aliases=recorded_aliases(request),
                )
            )
        return response


def recorded_aliases(request: Any) -> tuple[RecordedAlias, ...]:
    """A registration's aliases, sent as specs (the mock monitor supports them) or, by older SDKs, as URNs."""
    aliases = [
        RecordedAlias(urn=alias.urn)
        if alias.WhichOneof("alias") == "urn"
        else RecordedAlias(name=alias.spec.name, type=alias.spec.type)
        for alias in request.aliases
    ]
    return (*aliases, *(RecordedAlias(urn=urn) for urn in request.aliasURNs))


def flatten_stack_config(document: Mapping[str, Any]) -> dict[str, str]:
    """A stack file's `config:` block as the engine passes it to programs: every value a string (JSON if structured)."""
    config = document.get("config")
    if not isinstance(config, dict):
        raise StackConfigError("a stack config file needs a top-level 'config:' mapping")
    flat: dict[str, str] = {}
    for key, value in config.items():
        if isinstance(value, str):
            flat[key] = value
        elif isinstance(value, bool):
            flat[key] = "true" if value else "false"
        else:
            flat[key] = json.dumps(value)
    return flat


def load_stack_config(path: Path) -> dict[str, str]:
    """Read a `Pulumi.<stack>.yaml` file into the engine's flat config."""
    try:
        document = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise StackConfigError(f"cannot read stack config {path}: {error}") from error
    if not isinstance(document, dict):
        raise StackConfigError(f"{path} is not a YAML mapping")
    return flatten_stack_config(document)


def run_program(program: Callable[[], object], config: Mapping[str, str], *, stack: str = DEFAULT_STACK) -> Recording:
    """Run a Pulumi program under mocks with this stack config and return everything it registered.

    Each run gets a fresh context, so runs never see each other's root stack, config or outputs.
    """
    recording = Recording()
    region = config.get("aws:region", "us-east-1")

    def run() -> None:
        mocks = StackMocks(region)
        pulumi.runtime.set_mocks(
            mocks, project=PROJECT, stack=stack, preview=False, monitor=RecordingMonitor(mocks, recording)
        )
        pulumi.runtime.set_all_config(dict(config))
        pulumi.runtime.test(program_and_exports)()  # type: ignore[no-untyped-call]

    def program_and_exports() -> pulumi.Output[None]:
        program()
        root = pulumi.runtime.get_root_resource()
        exports: dict[str, Any] = getattr(root, "outputs", {})
        return pulumi.Output.from_input(exports).apply(recording.exports.update)

    contextvars.Context().run(run)
    return recording


def run_stack(config: Mapping[str, str], *, stack: str = DEFAULT_STACK) -> Recording:
    """The real program (settings from `config`, then `infra.stack.build`) under mocks."""
    return run_program(lambda: build(load_settings()), config, stack=stack)
