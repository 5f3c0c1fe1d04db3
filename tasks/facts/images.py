"""Images on the server: which release tags exist, and their sizes."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..commands import images
from . import Fact

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
