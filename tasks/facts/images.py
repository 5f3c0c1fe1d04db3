"""Images on the server: which release tags exist, and their sizes."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from ..commands import images
from . import Fact, reads

RELEASE_TAG = re.compile(r"^[0-9a-f]{12}$")


@dataclass(frozen=True)
class ImageTag:
    repository: str
    tag: str
    image_id: str
    size: str

    @property
    def name(self) -> str:
        return f"{self.repository}:{self.tag}"

    @property
    def is_release(self) -> bool:
        return bool(RELEASE_TAG.match(self.tag))


@reads("`docker image ls`", "check that the Docker Engine answers (`docker image ls` on the host)")
def parse_image_list(stdout: str) -> list[ImageTag]:
    found = []
    for line in stdout.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3 and ":" in parts[0]:
            repository, _, tag = parts[0].rpartition(":")
            found.append(ImageTag(repository, tag, parts[1], parts[2]))
    return found


def image_tags(repository: str) -> Fact[list[ImageTag]]:
    return Fact("image tags", images.list_images(repository), parse_image_list)


@dataclass(frozen=True)
class InspectedImage:
    id: str
    revision: str | None
    tags: tuple[str, ...]


@reads("`docker image inspect`", "check that the Docker Engine answers (`docker image ls` on the host)")
def parse_inspect(stdout: str) -> dict[str, InspectedImage]:
    """`images.inspect`: one JSON object a line (missing names are simply absent) ->
    every tag of every image found -> the image."""
    from .host_state import _revision_of

    found: dict[str, InspectedImage] = {}
    for line in stdout.splitlines():
        if not line.startswith("{"):
            continue
        row = json.loads(line)
        image = InspectedImage(row["id"], _revision_of(row.get("labels")), tuple(row.get("tags") or ()))
        for tag in image.tags:
            found[tag] = image
    return found


def inspect(names: list[str]) -> Fact[dict[str, InspectedImage]]:
    return Fact("images", images.inspect(names), parse_inspect)


def id_of(found: dict[str, InspectedImage], name: str) -> str | None:
    """The id of the image `name` (as a compose file writes it) points to, if any."""
    image = found.get(images.tagged(name))
    return image.id if image else None
