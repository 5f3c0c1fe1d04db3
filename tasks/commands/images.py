"""docker image command lines: the release tags that keep old images for rollbacks."""

from __future__ import annotations

from ..records import short

# The label that ties an image to the commit it was built from (OCI's own key).
REVISION_LABEL = "org.opencontainers.image.revision"
IMAGE_FORMAT = '{"kind":"image","id":{{json .Id}},"labels":{{json .Config.Labels}},"tags":{{json .RepoTags}}}'


def image_id(image: str) -> list[str]:
    return ["docker", "image", "inspect", "--format", "{{.Id}}", image]


def image_ids(*names: str) -> list[str]:
    return ["docker", "image", "inspect", "--format", "{{.Id}}", *names]


def tag(source: str, target: str) -> list[str]:
    return ["docker", "tag", source, target]


def repository(image: str) -> str:
    """`registry:5000/app:prod` -> `registry:5000/app`: the part a release tag goes on."""
    name, colon, tag_part = image.rpartition(":")
    return name if colon and "/" not in tag_part else image


def tagged(image: str) -> str:
    """The name as Docker lists it among an image's tags (`:latest` when none is given)."""
    return image if repository(image) != image else f"{image}:latest"


def release_tag(image: str, revision: str) -> str:
    return f"{repository(image)}:{short(revision)}"


def list_images(repository: str) -> list[str]:
    return ["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}", repository]


def remove(name: str) -> list[str]:
    return ["docker", "image", "rm", name]


def inspect(names: list[str]) -> list[str]:
    """Each name's image as one JSON line; a missing name only makes the exit code 1."""
    return ["sh", "-c", 'docker image inspect --format "$0" "$@" 2>/dev/null; exit 0', IMAGE_FORMAT, *names]
