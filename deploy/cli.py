"""`python -m deploy {verify,shift-alias,mark-deployed}`: the buildspec's steps.

Each command reads `core.settings.DeploySettings` from the environment CodeBuild sets, prints one JSON
line, and exits 0 on success, 1 when the step refused or failed (the pipeline stops there), 2 on bad usage.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from core.aws import shared_session
from core.events import EventBus
from core.model_lifecycle import RegistryError
from core.records import parse_timestamp
from core.registry import Registry
from core.release_bundle import ReleaseError
from core.settings import DeploySettings, MissingSettingError
from deploy.alias import CanaryPlan, DeployError, ImageRepository, ServingFunction, shift_alias
from deploy.marking import mark_deployed, mark_shadow
from deploy.verify import shell_exports, stage_model, summary, verify_release

LOGGER = logging.getLogger(__name__)


def build_parser() -> argparse.ArgumentParser:
    """The three subcommands and their arguments."""
    parser = argparse.ArgumentParser(prog="python -m deploy", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    verify = commands.add_parser("verify", help="check the release against the registry; stage the model")
    verify.add_argument("--release-dir", type=Path, required=True, help="the extracted release zip")
    verify.add_argument("--model-dir", type=Path, required=True, help="where to stage model.pkl + manifest.json")
    verify.add_argument("--env-file", type=Path, required=True, help="shell exports of the verified version")
    verify.add_argument(
        "--shadow-dir", type=Path, help="where a shadow release's version is staged (its champion goes to --model-dir)"
    )
    shift = commands.add_parser("shift-alias", help="deploy the pushed image behind the serving alias")
    source = shift.add_mutually_exclusive_group(required=True)
    source.add_argument("--image-tag", help="tag in AUTORETRAIN_ECR_REPOSITORY_URI, resolved to its digest")
    source.add_argument("--image-uri", help="a full image reference (preferably by digest)")
    shift.add_argument("--version", required=True, help="the model version (the published version's description)")
    shift.add_argument("--state-file", type=Path, required=True, help="where to record the function versions")
    mark = commands.add_parser("mark-deployed", help="make the version champion and emit ModelDeployed")
    mark.add_argument("--version", required=True)
    mark.add_argument("--state-file", type=Path, required=True, help="written by shift-alias")
    mark.add_argument(
        "--shadow-of",
        default="",
        help="a shadow release's champion (verify's SHADOW_OF): the version's shadow period starts instead, the "
        "champion stays champion; empty for a plain release",
    )
    mark.add_argument("--now", type=parse_timestamp, help="a shadow period's start (default: the wall clock)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run one step; see the module docstring for exit codes."""

    arguments = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        settings = DeploySettings.from_env()
        session = shared_session()
        registry = Registry(session.client("dynamodb"), settings.registry_table)
        if arguments.command == "verify":
            verified = verify_release(arguments.release_dir, registry, settings.model_name)
            stage_model(arguments.release_dir, arguments.model_dir, verified, arguments.shadow_dir)
            arguments.env_file.write_text(shell_exports(verified))
            print(summary(verified))
        elif arguments.command == "shift-alias":
            image_uri = arguments.image_uri or ImageRepository(
                session.client("ecr"), _require(settings.ecr_repository_uri, "AUTORETRAIN_ECR_REPOSITORY_URI")
            ).resolve(arguments.image_tag)
            function = ServingFunction(
                session.client("lambda"), session.client("cloudwatch"), settings.serving_function
            )
            result = shift_alias(
                function,
                alias=settings.serving_alias,
                image_uri=image_uri,
                description=f"{settings.model_name} {arguments.version}",
                canary=_canary(settings),
            )
            arguments.state_file.write_text(json.dumps(result.to_json()))
            print(json.dumps({"shifted": True, **result.to_json()}))
        elif arguments.shadow_of:
            state = json.loads(arguments.state_file.read_text())
            shadow = mark_shadow(
                registry,
                model_name=settings.model_name,
                version=arguments.version,
                champion=arguments.shadow_of,
                function_version=str(state["function_version"]),
                now=arguments.now or datetime.now(UTC),
            )
            print(json.dumps({"deployed": True, "in_shadow": True, "version": arguments.version, **shadow}))
        else:
            state = json.loads(arguments.state_file.read_text())
            detail = mark_deployed(
                registry,
                EventBus(session.client("events"), settings.event_bus),
                model_name=settings.model_name,
                version=arguments.version,
                function_version=str(state["function_version"]),
                alias=settings.serving_alias,
            )
            print(json.dumps({"deployed": True, **detail}))
    except (ReleaseError, DeployError, RegistryError, MissingSettingError) as error:
        LOGGER.error("%s failed: %s", arguments.command, error)
        print(json.dumps({"command": arguments.command, "failed": str(error)}))
        return 1
    return 0


def _require(value: str, name: str) -> str:
    if not value:
        raise MissingSettingError(f"environment variable {name} is not set")
    return value


def _canary(settings: DeploySettings) -> CanaryPlan | None:
    if settings.canary_percent and settings.canary_minutes and settings.deploy_alarms:
        return CanaryPlan(settings.canary_percent, settings.canary_minutes * 60.0, settings.deploy_alarms)
    return None


if __name__ == "__main__":
    sys.exit(main())
