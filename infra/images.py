"""Container images built at `pulumi up` (the serving bootstrap image, the jobs image): pure helpers and the one
builder both use.

An image is built from a Dockerfile in the repository (build context: the project root, where Pulumi runs the
program) and tagged by a hash of exactly what it copies, so a change to the code it bakes in gives a new tag
(repositories have immutable tags) and an unchanged tree gives no diff.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import Path

import dockerfile
import pulumi
import pulumi_aws as aws
import pulumi_docker_build as docker_build

REPO_ROOT = Path(__file__).resolve().parents[1]
#: Relative to the project directory, where Pulumi runs the program (absolute paths would differ per machine).
BUILD_CONTEXT = "."
_VARIABLE = re.compile(r"\$\{(\w+)\}|\$(\w+)")


class DockerfileSourceError(ValueError):
    """A Dockerfile copies something the content tag cannot track."""


def copied_sources(dockerfile_text: str) -> list[str]:
    """Build-context paths (or globs) a Dockerfile's COPY/ADD take, `${ARG}`s expanded to their defaults.

    Copies from other stages (`--from`) are skipped: they come from images, not the build context.
    """
    arguments: dict[str, str] = {}
    sources: list[str] = []
    for command in dockerfile.parse_string(dockerfile_text):
        instruction = command.cmd.upper()
        if instruction == "ARG":
            for declaration in command.value:
                name, _, default = declaration.partition("=")
                arguments[name] = default
        elif instruction in ("COPY", "ADD") and not any(flag.startswith("--from") for flag in command.flags):
            sources.extend(_expand(source, arguments) for source in command.value[:-1])
    return sources


def _expand(text: str, arguments: dict[str, str]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2)
        if not arguments.get(name):
            raise DockerfileSourceError(f"COPY source {text!r} uses ARG {name} which has no default")
        return arguments[name]

    return _VARIABLE.sub(value, text)


def _files(root: Path, pattern: str) -> Iterable[Path]:
    matches = sorted(root.glob(pattern.lstrip("/"))) if any(ch in pattern for ch in "*?[") else [root / pattern]
    for match in matches:
        if match.resolve() == root.resolve():
            raise DockerfileSourceError(f"COPY {pattern!r} copies the whole build context; name what the image needs")
        if not match.exists():
            raise DockerfileSourceError(f"COPY source {pattern!r} does not exist under {root}")
        if match.is_dir():
            yield from (p for p in sorted(match.rglob("*")) if p.is_file() and "__pycache__" not in p.parts)
        else:
            yield match


def copied_files(root: Path, dockerfile_path: str) -> set[Path]:
    """Every file of the build context `root` that the Dockerfile copies into its image."""
    text = (root / dockerfile_path).read_text()
    return {f for pattern in copied_sources(text) for f in _files(root, pattern)}


def content_tag(root: Path, dockerfile_path: str, prefix: str = "bootstrap-") -> str:
    """An image tag that changes whenever the Dockerfile or anything it copies changes (tags are immutable)."""
    digest = hashlib.sha256()
    for path in sorted({root / dockerfile_path, *copied_files(root, dockerfile_path)}):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return prefix + digest.hexdigest()[:20]


def image_uri_by_digest(repository_url: str, digest: str) -> str:
    """`repo@sha256:...`: Lambda and ECS accept a tag or a digest but not both (docker-build's `ref` has both)."""
    if not digest.startswith("sha256:"):
        raise ValueError(f"expected an image digest 'sha256:...', got {digest!r}")
    return f"{repository_url}@{digest}"


def registry_address(repository_url: str) -> str:
    """`<account>.dkr.ecr.<region>.amazonaws.com` from a repository URL."""
    return repository_url.split("/", 1)[0]


def keep_last_images_policy(count: int) -> str:
    """ECR lifecycle policy: expire all but the newest `count` images."""
    rule = {
        "rulePriority": 1,
        "description": f"keep the newest {count} images",
        "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": count},
        "action": {"type": "expire"},
    }
    return json.dumps({"rules": [rule]}, sort_keys=True)


def private_repository(name: str, keep_images: int, parent: pulumi.Resource) -> aws.ecr.Repository:
    """An ECR repository that scans on push, refuses tag overwrites, encrypts, and keeps the newest images. `pulumi
    destroy` deletes it with its images (they are built from the code and the model bucket's verified artefacts, which
    hold the record)."""
    child = pulumi.ResourceOptions(parent=parent)
    repository = aws.ecr.Repository(
        name,
        force_delete=True,
        image_tag_mutability="IMMUTABLE",
        image_scanning_configuration={"scan_on_push": True},
        encryption_configurations=[{"encryption_type": "AES256"}],
        opts=child,
    )
    aws.ecr.LifecyclePolicy(
        f"{name}-lifecycle", repository=repository.name, policy=keep_last_images_policy(keep_images), opts=child
    )
    return repository


def pushed_image(
    name: str,
    *,
    repository: aws.ecr.Repository,
    dockerfile_path: str,
    tag: str,
    platform: docker_build.Platform,
    parent: pulumi.Resource,
) -> docker_build.Image:
    """Build `dockerfile_path` (context: the project root) at `pulumi up` and push it as `tag` (its content tag)."""
    token = aws.ecr.get_authorization_token_output(
        registry_id=repository.registry_id, opts=pulumi.InvokeOutputOptions(parent=parent)
    )
    # Lambda refuses image indexes, which BuildKit makes when it adds its default provenance attestation;
    # docker-build has no switch for it, so `pulumi up` runs with BUILDX_NO_DEFAULT_ATTESTATIONS=1 (README).
    return docker_build.Image(
        name,
        push=True,
        build_on_preview=False,  # `pulumi preview` works without a Docker engine; `pulumi up` needs one
        context={"location": BUILD_CONTEXT},
        dockerfile={"location": dockerfile_path},
        platforms=[platform],
        tags=[repository.repository_url.apply(lambda url: f"{url}:{tag}")],
        registries=[
            {
                "address": repository.repository_url.apply(registry_address),
                "username": token.user_name,
                "password": token.password,
            }
        ],
        opts=pulumi.ResourceOptions(parent=parent),
    )
