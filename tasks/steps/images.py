"""The django image and the images that share its build: built on the server, and
tagged with the revision so that every release's image stays there for a rollback."""

from __future__ import annotations

from dataclasses import dataclass

from ..commands import compose, images
from ..errors import ConfigError
from ..facts import compose as compose_facts
from ..facts import images as image_facts
from ..target import Target


@dataclass(frozen=True)
class BuildGroup:
    services: list[str]
    images: list[str]
    all_services: list[str]
    project_name: str


def build_group(t: Target) -> BuildGroup:
    config = t.probe(compose_facts.config(t.project))
    django = t.settings.django_service
    if django not in config.services:
        raise ConfigError(
            f"{t.settings.compose_file} has no service {django!r}",
            f"set DEPLOY_DJANGO_SERVICE to one of: {', '.join(sorted(config.services))}",
        )
    services = config.sharing_build_with(django)
    if not services:
        raise ConfigError(
            f"service {django!r} in {t.settings.compose_file} has no build section",
            "composeship builds the django image on the server from your code: give the service a `build:`",
        )
    found = sorted({config.services[name].image for name in services})
    return BuildGroup(services, found, list(config.services), config.project_name)


def exists(t: Target, image: str) -> bool:
    return t.check(images.image_id(image), cwd=None)


def keep_previous(t: Target, group: BuildGroup, previous: str | None) -> None:
    """Before building over it, give the running release's image its release tag (a
    release deployed by hand, before composeship, has none yet)."""
    if not previous:
        return
    for image in group.images:
        tagged = images.release_tag(image, previous)
        if exists(t, image) and not exists(t, tagged):
            t.run(images.tag(image, tagged), cwd=None, stream=False)


def build(t: Target, group: BuildGroup) -> None:
    t.run(compose.build(t.project, group.services))


def tag_release(t: Target, group: BuildGroup, revision: str) -> None:
    for image in group.images:
        t.run(images.tag(image, images.release_tag(image, revision)), cwd=None, stream=False)


def restore(t: Target, group: BuildGroup, previous: str) -> list[str]:
    """Point the images back at `previous`'s release tags. Returns what it could not restore."""
    missing = []
    for image in group.images:
        tagged = images.release_tag(image, previous)
        if t.dry_run or exists(t, tagged):
            t.run(images.tag(tagged, image), cwd=None, stream=False)
        else:
            missing.append(tagged)
    return missing


def missing_release_images(t: Target, group: BuildGroup, revision: str) -> list[str]:
    return [tag for tag in (images.release_tag(image, revision) for image in group.images) if not exists(t, tag)]


def prune(t: Target, group: BuildGroup, released: set[str], keep: set[str]) -> list[str]:
    """Remove the release tags of this deployment's revisions (`released`, from its
    release log) that are not in `keep`; returns what was removed. Tags of revisions
    the log does not know (another checkout of the same project on this host) stay,
    and so does an image a container still uses (Docker refuses)."""
    kept = {revision[:12] for revision in keep}
    ours = {revision[:12] for revision in released} - kept
    removed = []
    for image in group.images:
        for tag in t.probe(image_facts.image_tags(images.repository(image)), cwd=None):
            if tag.is_release and tag.tag in ours:
                if t.run(images.remove(tag.name), cwd=None, stream=False, check=False).ok:
                    removed.append(tag.name)
    return removed


def reuse_release(t: Target, group: BuildGroup, revision: str) -> bool | None:
    """When every image of the group already has `revision`'s release tag, point the
    images at those tags instead of building: None when a tag is missing (build),
    else whether any image had to be moved."""
    moved = False
    for image in group.images:
        tagged = images.release_tag(image, revision)
        result = t.run(images.image_ids(tagged, image), cwd=None, probe=True, stream=False, check=False)
        ids = result.stdout.split()
        if not ids or (not result.ok and not exists(t, tagged)):
            return None
        if len(ids) < 2 or ids[0] != ids[1]:
            t.run(images.tag(tagged, image), cwd=None, stream=False)
            moved = True
    return moved
