"""The django image and the images that share its build: built on the server with a
label naming the revision they were built from, and tagged `IMAGE:<revision>` so
that every release's image stays for a rollback. A release tag is trusted only when
the image it names carries that revision's label: a tag can never name other code."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..commands import compose, host, images
from ..errors import ConfigError
from ..facts import compose as compose_facts
from ..facts import images as image_facts
from ..facts.compose import ComposeConfig, ServiceConfig
from ..records import short
from ..target import Target


def explain_build(t: Target, ref: str) -> str:
    return f"{t.settings.django_service} and the services sharing its build, labelled and tagged with the revision; skipped when images proven to be that revision's are there"


def explain_prune(t: Target, ref: str) -> str:
    return f"the image tags of releases older than the newest {t.settings.keep_releases} (DEPLOY_KEEP_RELEASES) removed"


@dataclass(frozen=True)
class BuildGroup:
    """django and the services built from its build (labelled, tagged per release), and
    what the rest of the compose file says about every service."""

    services: list[str]
    images: list[str]
    all_services: list[str]
    project_name: str
    image_of: dict[str, str]
    configs: dict[str, ServiceConfig] = field(default_factory=dict)
    # Of the compose configuration (see ComposeConfig.fingerprint).
    fingerprint: str = ""
    document: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def other_builds(self) -> list[str]:
        """Services with a build of their own (a proxy, the postgres image): built too,
        so that a change to them reaches the host, but not labelled or kept per release."""
        return [name for name, config in self.configs.items() if config.build and name not in self.services]


def group_of(config: ComposeConfig, django: str, compose_file: str) -> BuildGroup:
    if django not in config.services:
        raise ConfigError(
            f"{compose_file} has no service {django!r}",
            f"set DEPLOY_DJANGO_SERVICE to one of: {', '.join(sorted(config.services))}",
        )
    services = config.sharing_build_with(django)
    if not services:
        raise ConfigError(
            f"service {django!r} in {compose_file} has no build section",
            "composeship builds the django image on the server from your code: give the service a `build:`",
        )
    image_of = {name: config.services[name].image for name in services}
    return BuildGroup(services, sorted(set(image_of.values())), list(config.services), config.project_name, image_of, dict(config.services), config.fingerprint, config.document)


def build_group(t: Target, *, code_arrived: bool = True) -> BuildGroup:
    """The group as the checkout's compose file has it now. When the code has not
    arrived (a dry run of a first deploy only printed the checkout), the django
    service alone is assumed."""
    fact = compose_facts.config(t.project, todo=f"run `{t.settings.compose_command} config` in {t.path} on {t.name} to see why")
    config = t.probe(fact if code_arrived else fact.or_else(None))
    if config is None:
        django = t.settings.django_service
        return BuildGroup([django], [django], [django], t.settings.compose_project or "", {django: django}, {django: ServiceConfig(django, django, (".", "Dockerfile"))})
    return group_of(config, t.settings.django_service, t.settings.compose_file)


@dataclass(frozen=True)
class ReleaseImages:
    """For one revision: the image id of each image's release tag when that image is
    proven to be built from the revision (None otherwise), and what each image name
    points at now."""

    revision: str
    proven: dict[str, str | None]
    current: dict[str, str | None]

    @property
    def complete(self) -> bool:
        return bool(self.proven) and all(self.proven.values())

    def missing(self) -> list[str]:
        return [images.release_tag(image, self.revision) for image, found in self.proven.items() if not found]

    def to_move(self) -> dict[str, str]:
        """Image name -> proven id, for the names that do not point there yet."""
        return {image: found for image, found in self.proven.items() if found and self.current.get(image) != found}


def release_images(t: Target, group: BuildGroup, revision: str) -> ReleaseImages:
    names = [images.release_tag(image, revision) for image in group.images] + list(group.images)
    found = t.probe(image_facts.inspect(names), cwd=None)
    proven = {}
    current = {}
    for image in group.images:
        tagged = found.get(images.release_tag(image, revision))
        proven[image] = tagged.id if tagged and tagged.revision == revision else None
        plain = found.get(image) or found.get(f"{image}:latest")
        current[image] = plain.id if plain else None
    return ReleaseImages(revision, proven, current)


def build(t: Target, group: BuildGroup, revision: str) -> None:
    """Build from the checkout (clean, at `revision`), label, and tag each image; the
    services with builds of their own are built in the same run (from cache, mostly)."""
    services = group.services + group.other_builds
    t.run(compose.build_labelled(t.project, group.services, revision, t.build_override, also=group.other_builds), label=f"docker compose build {' '.join(services)} (labelled {short(revision)})")
    _tag_all(t, [(image, images.release_tag(image, revision)) for image in group.images])


def point_at(t: Target, targets: dict[str, str]) -> None:
    """Image name -> image id: move each name (the tag compose runs) to that image."""
    _tag_all(t, [(image_id, image) for image, image_id in sorted(targets.items())])


def _tag_all(t: Target, pairs: list[tuple[str, str]]) -> None:
    """(source, target) pairs, tagged in one round trip."""
    if pairs:
        t.run(host.in_sequence(*(images.tag(source, target) for source, target in pairs)), cwd=None, stream=False)


def prune(t: Target, group: BuildGroup, released: set[str], keep: set[str]) -> list[str]:
    """Remove the release tags of this deployment's revisions (`released`, from its
    release log) that are not in `keep`; returns what was removed. Tags of revisions
    the log does not know (another checkout of the same project on this host) stay,
    and so does an image a container still uses (Docker refuses)."""
    kept = {short(revision) for revision in keep}
    ours = {short(revision) for revision in released} - kept
    removed = []
    for image in group.images:
        for tag in t.probe(image_facts.image_tags(images.repository(image)), cwd=None):
            if tag.is_release and tag.tag in ours:
                if t.run(images.remove(tag.name), cwd=None, stream=False, check=False).ok:
                    removed.append(tag.name)
    return removed
