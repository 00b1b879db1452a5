"""The jobs image: built from `batch_jobs/Dockerfile` at `pulumi up`, tagged by its content, pushed to a private
repository of its own. Both job definitions run it by digest; its content tag is the jobs' code version."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_aws as aws
import pulumi_docker_build as docker_build

from infra.images import REPO_ROOT, content_tag, image_uri_by_digest, private_repository, pushed_image

DOCKERFILE = "batch_jobs/Dockerfile"
IMAGE_TAG_PREFIX = "jobs-"
PLATFORM = docker_build.Platform.LINUX_AMD64


@dataclass(frozen=True, slots=True)
class JobsImage:
    """The repository, the pushed image's URI by digest, and its content tag (the code version)."""

    repository: aws.ecr.Repository
    uri: pulumi.Output[str]
    code_version: str


def jobs_image(name: str, keep_images: int, parent: pulumi.Resource) -> JobsImage:
    """The repository `{name}-repository` (keeping the newest `keep_images`) and the image `{name}-image` in it."""
    repository = private_repository(f"{name}-repository", keep_images, parent)
    code_version = content_tag(REPO_ROOT, DOCKERFILE, IMAGE_TAG_PREFIX)
    image = pushed_image(
        f"{name}-image",
        repository=repository,
        dockerfile_path=DOCKERFILE,
        tag=code_version,
        platform=PLATFORM,
        parent=parent,
    )
    uri = pulumi.Output.all(repository.repository_url, image.digest).apply(
        lambda parts: image_uri_by_digest(parts[0], parts[1])
    )
    return JobsImage(repository, uri, code_version)
