"""docker image command lines: the release tags that keep old images for rollbacks."""

from __future__ import annotations


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


def release_tag(image: str, revision: str) -> str:
    return f"{repository(image)}:{revision[:12]}"


def list_images(repository: str) -> list[str]:
    return ["docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}} {{.ID}} {{.Size}}", repository]


def remove(name: str) -> list[str]:
    return ["docker", "image", "rm", name]
