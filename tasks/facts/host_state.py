"""What a host really runs, read in one round trip: the checkout, the lock, the journal
of a run in progress, the compose configuration, and every container of the project
with the image it runs and the revision that image was built from (the label
composeship puts on the images it builds). Every decision about a host reads this,
never git HEAD or an image's `latest` tag alone."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Sequence

from ..commands import compose as compose_cmd
from ..commands import git, host
from ..commands.compose import MIGRATE_LABEL, ComposeProject
from ..commands.images import REVISION_LABEL
from ..errors import DeployError
from ..executor import Probe
from ..records import Journal, LockInfo, LockState, Release, parse_release_log, short
from . import Fact
from .compose import ComposeConfig, parse_config
from .git import parse_dirty_files, parse_revision

ONEOFF_LABEL = "com.docker.compose.oneoff"
SERVICE_LABEL = "com.docker.compose.service"
# Compose numbers a service's containers 1, 2, ...; a new one gets the next number.
NUMBER_LABEL = "com.docker.compose.container-number"


@dataclass(frozen=True)
class Image:
    id: str
    revision: str | None
    tags: tuple[str, ...] = ()


@dataclass(frozen=True)
class Container:
    id: str
    name: str
    service: str
    oneoff: bool
    state: str  # running, exited, restarting, created, ...
    health: str  # healthy, unhealthy, starting, or "" without a healthcheck
    image_id: str
    revision: str | None  # from the image's label; None: not built by composeship
    command: tuple[str, ...] = ()
    # The names that point to its image now (`name:tag`): a name a build moved is gone.
    image_tags: tuple[str, ...] = ()
    number: int = 0
    # Started by composeship to migrate (a one-off container with its label).
    marked_migrating: bool = False

    @property
    def ready(self) -> bool:
        """Running and not failing its healthcheck. A container inside its first
        healthcheck interval ("starting": a minute with a 60 s interval) counts: taken
        as down, a deploy made then would recreate it, a certain outage, where rolling
        it out stops it only once its successor is healthy."""
        return self.state == "running" and self.health != "unhealthy"

    @property
    def migrating(self) -> bool:
        return self.marked_migrating or ("migrate" in self.command and "manage.py" in " ".join(self.command))


def of_service(containers: Sequence[Container], service: str) -> list[Container]:
    """The service's own containers, in any state (one-off ones aside)."""
    return [c for c in containers if c.service == service and not c.oneoff]


def _revision_of(labels: dict | None) -> str | None:
    value = (labels or {}).get(REVISION_LABEL) or ""
    return value if len(value) == 40 and all(ch in "0123456789abcdef" for ch in value) else None


def parse_containers(stdout: str) -> list[Container]:
    """`compose.containers_and_images`: container lines, then image lines."""
    containers, images = [], {}
    for line in stdout.splitlines():
        if not line.startswith("{"):
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            raise DeployError("could not read the `docker inspect` output of the project's containers", "check `docker compose ps` on the server") from None
        if row.get("kind") == "image":
            images[row["id"]] = (_revision_of(row.get("labels")), tuple(row.get("tags") or ()))
        elif row.get("kind") == "container":
            containers.append(row)
    found = []
    for row in containers:
        labels = row.get("labels") or {}
        state = row.get("state") or {}
        revision, tags = images.get(row.get("image", ""), (None, ()))
        found.append(
            Container(
                id=row["id"],
                name=row.get("name", "").lstrip("/"),
                service=labels.get(SERVICE_LABEL, ""),
                oneoff=labels.get(ONEOFF_LABEL) == "True",
                state=state.get("Status", ""),
                health=(state.get("Health") or {}).get("Status", ""),
                image_id=row.get("image", ""),
                revision=revision,
                command=tuple(row.get("cmd") or ()),
                image_tags=tags,
                number=_number(labels.get(NUMBER_LABEL)),
                marked_migrating=labels.get(MIGRATE_LABEL) == "true",
            )
        )
    # Oldest first within a service (by number: `app-django-10` is newer than `-9`).
    return sorted(found, key=lambda c: (c.service, c.number, c.name))


def _number(value) -> int:
    return int(value) if isinstance(value, str) and value.isdigit() else 0


def parse_lock_state(result_exited: int, stdout: str) -> LockState | None:
    """`host.read_lock`: None when there is no lock."""
    if result_exited == 3:
        return None
    if result_exited != 0:
        raise DeployError(f"could not read the lock (exit code {result_exited})", "check that the deploy user may read DEPLOY_PATH/.git/composeship")
    lines = stdout.splitlines()
    alive = {"alive=1": True, "alive=0": False}.get(lines[-1].strip() if lines else "")
    info_text = "\n".join(line for line in lines if not line.startswith("alive="))
    info = LockInfo.parse(info_text) if "token=" in info_text or "user=" in info_text else None
    return LockState(info, alive)


@dataclass(frozen=True)
class Serving:
    """What the services of the django build group run now."""

    # The django service's revision when all its running containers agree on a
    # labelled image; None when nothing runs, the image is not labelled, or they differ.
    revision: str | None
    # Compose image name -> the image id the service's running containers use.
    images: dict[str, str] = field(default_factory=dict)
    # Service -> revision (or None) of each of its running containers.
    services: dict[str, tuple[str | None, ...]] = field(default_factory=dict)
    # A service whose containers do not all run, or not all are healthy.
    not_ready: tuple[str, ...] = ()

    @property
    def running(self) -> bool:
        """Containers of the group exist (running, or stopped by something else)."""
        return bool(self.images)

    @property
    def mixed(self) -> bool:
        """Services of the group run different revisions (a restart stopped half-way)."""
        return len({revision for revisions in self.services.values() for revision in revisions}) > 1

    def describe(self) -> str:
        if not self.running:
            return "nothing runs"
        stopped = " (stopped: " + ", ".join(self.not_ready) + ")" if self.not_ready else ""
        if self.mixed:
            return ", ".join(f"{service} on {_short_all(revisions)}" for service, revisions in self.services.items()) + stopped
        return short(self.revision, "an image composeship did not build (no revision label)") + stopped


def _short_all(revisions) -> str:
    return "/".join(sorted({short(r, "unlabelled") for r in revisions}))


@dataclass(frozen=True)
class Observed:
    checkout: str | None
    dirty: tuple[str, ...]
    lock: LockState | None
    journal: Journal | None
    config: ComposeConfig | None
    containers: tuple[Container, ...]
    releases: tuple[Release, ...] = ()

    def serving(self, services: list[str], django: str) -> Serving:
        """What the `services` (the django build group) run, by their containers: the
        running ones, or, for a service with none running (an engine restart stops
        containers without a restart policy), the stopped ones it would start again."""
        images: dict[str, str] = {}
        per_service: dict[str, tuple[str | None, ...]] = {}
        not_ready = []
        for service in services:
            mine = of_service(self.containers, service)
            running = [c for c in mine if c.state == "running"]
            if not mine or any(not c.ready for c in mine):
                not_ready.append(service)
            chosen = running or mine
            if not chosen:
                continue
            per_service[service] = tuple(c.revision for c in chosen)
            if self.config and service in self.config.services:
                # The oldest container's: in a rollout stopped half-way, what served before.
                images.setdefault(self.config.services[service].image, chosen[0].image_id)
        django_revisions = set(per_service.get(django, ()))
        revision = next(iter(django_revisions)) if len(django_revisions) == 1 else None
        return Serving(revision, images, per_service, tuple(not_ready))

    def running_migrations(self) -> list[Container]:
        return [c for c in self.containers if c.oneoff and c.state == "running" and c.migrating]


def batch(project: ComposeProject, path: str, lock_dir: str, journal: str, release_log: str) -> dict[str, Probe]:
    return {
        "release log": (host.read_file_if_any(release_log), None),
        "head": (git.head(), path),
        "status": (git.status(), path),
        "lock": (host.read_lock(lock_dir), None),
        "journal": (host.read_file_if_any(journal), None),
        "config": (compose_cmd.config_json(project), path),
        "containers": (compose_cmd.containers_and_images(project), path),
    }


def parse(results) -> Observed:
    """The batch's results, by its keys. The compose config's output holds resolved env
    files: it is parsed, never quoted."""
    log, head, status, lock, journal = results["release log"], results["head"], results["status"], results["lock"], results["journal"]
    config, containers = results["config"], results["containers"]
    # An empty checkout (a first deploy before its fetch) has no compose file yet.
    if not containers.ok and head.ok:
        raise DeployError(
            f"could not list the project's containers: {(containers.stderr.strip().splitlines() or ['no output'])[-1]}",
            "check that `docker compose ps` works in DEPLOY_PATH on the server",
        )
    return Observed(
        checkout=parse_revision(head.stdout) if head.ok else None,
        dirty=tuple(parse_dirty_files(status.stdout)) if status.ok else (),
        lock=parse_lock_state(lock.exited, lock.stdout),
        journal=Journal.parse(journal.stdout) if journal.ok and journal.stdout.strip() else None,
        config=parse_config(config.stdout) if config.ok else None,
        containers=tuple(parse_containers(containers.stdout)) if containers.ok else (),
        releases=tuple(parse_release_log(log.stdout)),
    )


def lock_state(lock_dir: str) -> Fact[LockState | None]:
    return Fact("the deploy lock", host.read_lock(lock_dir), read=lambda result: parse_lock_state(result.exited, result.stdout))


def release_log(path: str) -> Fact[list[Release]]:
    return Fact("the release log", host.read_file_if_any(path), parse_release_log)


def containers(project: ComposeProject) -> Fact[list[Container]]:
    """The project's containers and their images; none when Compose cannot list them."""
    return Fact("the project's containers", compose_cmd.containers_and_images(project), parse_containers, otherwise=[])
