"""Facts about a swarm (DEPLOY_ENGINE=swarm): whether the engine is an active manager,
the stack's services as their specs have them, and their tasks; and the judgement
of whether an update converged, made from those facts alone."""

from __future__ import annotations

import json
from dataclasses import dataclass

from ..commands import swarm as cmd
from ..errors import DeployError
from . import Fact, reads
from .host_state import Serving
from .images import InspectedImage


@dataclass(frozen=True)
class SwarmState:
    active: bool
    manager: bool
    error: str = ""


@reads("`docker info`", "check that the Docker Engine answers (`docker info` on the host)")
def parse_swarm_state(stdout: str) -> SwarmState:
    try:
        info = json.loads(stdout or "{}") or {}
    except json.JSONDecodeError:
        raise DeployError("could not read `docker info`'s swarm state", "check that the Docker Engine answers (`docker info` on the host)") from None
    return SwarmState(info.get("LocalNodeState") == "active", bool(info.get("ControlAvailable")), info.get("Error") or "")


def swarm_state() -> Fact[SwarmState]:
    return Fact("swarm state", cmd.swarm_state(), parse_swarm_state)


@dataclass(frozen=True)
class SwarmService:
    service: str  # the compose file's name (`django`), without the stack's prefix
    name: str  # the swarm's (`shop_django`)
    image: str  # what its spec runs
    replicas: int | None  # None: a global service
    update: str = ""  # updating, completed, paused, rollback_started, rollback_completed, rollback_paused; "" never updated
    message: str = ""


@reads("`docker service inspect`", "run `docker stack services STACK` on the manager to see why")
def parse_services(stdout: str, stack: str) -> dict[str, SwarmService]:
    """`docker service inspect` of the stack's services (one JSON array)."""
    try:
        rows = json.loads(stdout or "[]") or []
    except json.JSONDecodeError:
        raise DeployError(f"could not read the services of stack {stack}", f"run `docker stack services {stack}` on the manager to see why") from None
    services = {}
    for row in rows:
        spec = row.get("Spec") or {}
        name = spec.get("Name", "")
        short = name[len(stack) + 1 :] if name.startswith(stack + "_") else name
        image = ((spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}).get("Image", "")
        replicated = (spec.get("Mode") or {}).get("Replicated")
        status = row.get("UpdateStatus") or {}
        replicas = replicated.get("Replicas", 1) if replicated is not None else None
        services[short] = SwarmService(short, name, image, replicas, status.get("State", ""), status.get("Message", ""))
    return services


@dataclass(frozen=True)
class SwarmTask:
    service: str  # the compose file's name
    slot: str
    image: str
    desired: str  # Running, Shutdown, ...
    state: str  # the current state's first word: Running, Starting, Preparing, Failed, Rejected, Shutdown, ...
    error: str = ""


@reads("`docker stack ps`", "run `docker stack ps STACK` on the manager to see why")
def parse_tasks(stdout: str, stack: str) -> list[SwarmTask]:
    """`docker stack ps --format '{{json .}}'`: one object per line."""
    tasks = []
    for line in stdout.splitlines():
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            raise DeployError(f"could not read the tasks of stack {stack}", f"run `docker stack ps {stack}` on the manager to see why") from None
        name = row.get("Name", "").lstrip("\\_ ")
        service, _, slot = name.rpartition(".")
        service = service[len(stack) + 1 :] if service.startswith(stack + "_") else service
        tasks.append(SwarmTask(service, slot, row.get("Image", ""), row.get("DesiredState", ""), (row.get("CurrentState", "").split() or [""])[0], row.get("Error", "")))
    return tasks


def normal_image(reference: str) -> str:
    """An image reference as a service spec has it: `:latest` when no tag is given."""
    name = reference.split("@", 1)[0]
    if "@" in reference or ":" in name.rsplit("/", 1)[-1]:
        return reference
    return f"{reference}:latest"


@dataclass(frozen=True)
class Convergence:
    done: bool
    failed: str = ""  # why it never will (the swarm rolled back or paused the update)
    waiting: tuple[str, ...] = ()  # what is not there yet, one phrase each


# An update the swarm gave up on, and what it did instead.
GAVE_UP = {
    "rollback_started": "is rolling the update back",
    "rollback_completed": "rolled the update back",
    "rollback_paused": "paused the update's rollback",
    "paused": "paused the update",
}


def converged(services: dict[str, SwarmService], tasks: list[SwarmTask], wanted: dict[str, str]) -> Convergence:
    """Has every service in `wanted` (service -> image reference) taken its image: its
    spec names it, no update is in progress, and as many tasks as it has replicas run
    it (a task with a healthcheck runs only once healthy)? A service whose update the
    swarm rolled back or paused never will."""
    waiting, failed = [], []
    for service, image in sorted(wanted.items()):
        image = normal_image(image)
        found = services.get(service)
        if found is None:
            waiting.append(f"{service}: no such service yet")
            continue
        if found.update in GAVE_UP:
            failed.append(f"{service}: the swarm {GAVE_UP[found.update]} ({found.message or 'no message'})")
            continue
        if normal_image(found.image) != image:
            waiting.append(f"{service}: its spec runs {found.image}")
            continue
        running = [task for task in tasks if task.service == service and task.desired == "Running" and task.state == "Running" and normal_image(task.image) == image]
        others = [task for task in tasks if task.service == service and task.desired == "Running" and normal_image(task.image) != image]
        if found.update == "updating" or others or (found.replicas is not None and len(running) < found.replicas):
            expected = found.replicas if found.replicas is not None else "every node's"
            waiting.append(f"{service}: {len(running)} of {expected} tasks run {image}")
    if failed:
        return Convergence(False, "; ".join(failed))
    return Convergence(not waiting, waiting=tuple(waiting))


def task_errors(tasks: list[SwarmTask], services) -> list[str]:
    """The latest errors of the services' tasks, one line each, for an error message."""
    seen = []
    for task in tasks:
        if task.service in services and task.error and task.state in ("Failed", "Rejected", "Shutdown", "Complete"):
            line = f"{task.service}.{task.slot}: {task.state.lower()}: {task.error}"
            if line not in seen:
                seen.append(line)
    return seen[:6]


def serving(services: dict[str, SwarmService], found: dict[str, InspectedImage], image_of: dict[str, str], django: str) -> Serving:
    """What the build group's services run on the swarm, by their specs' images (`found`:
    those images inspected on the manager, by reference): the revision of django's, the
    image id behind each compose image name, and the services not settled on their spec
    (an update in progress or given up)."""
    images: dict[str, str] = {}
    per_service: dict[str, tuple[str | None, ...]] = {}
    not_ready = []
    for service, name in image_of.items():
        spec = services.get(service)
        if spec is None:
            continue
        image = found.get(normal_image(spec.image)) or found.get(spec.image)
        per_service[service] = (image.revision if image else None,)
        if image:
            images.setdefault(name, image.id)
        if spec.update in ("updating", *GAVE_UP):
            not_ready.append(service)
    revisions = set(per_service.get(django, ()))
    return Serving(next(iter(revisions)) if len(revisions) == 1 else None, images, per_service, tuple(not_ready))


def parse_digest(stdout: str, target: str) -> str:
    """The digest reference of `target` (`registry/name:tag`) among the image's
    RepoDigests (`registry/name@sha256:...`, one a line)."""
    repository = target.rsplit(":", 1)[0] if "/" not in target.rsplit(":", 1)[-1] else target
    for line in stdout.split():
        if line.startswith(repository + "@sha256:"):
            return line
    raise DeployError(f"the registry gave no digest for {target}", "check that the registry answers (`docker push` there) and run this again")


@reads("`docker image inspect`", "check that the Docker Engine answers (`docker image ls` on the manager)")
def parse_references(stdout: str) -> dict[str, InspectedImage]:
    """`images_by_reference`: reference -> the image (its revision None when unlabelled)."""
    found = {}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2:
            revision = parts[2] if len(parts) > 2 and parts[2] != "<no value>" else None
            found[parts[0]] = InspectedImage(parts[1], revision, ())
    return found


def runs_release(services: dict[str, SwarmService], tasks: list[SwarmTask], found: dict[str, InspectedImage], all_services: list[str], group: list[str], revision: str) -> bool:
    """Does the stack run `revision` as a deploy of it leaves it: every service of the
    configuration in the stack, none updating or given up, each with all its tasks on
    its spec's image, and the build group's specs on images labelled with `revision`?"""
    if any(service not in services for service in all_services):
        return False
    if not converged(services, tasks, {service: services[service].image for service in all_services}).done:
        return False
    for service in group:
        image = found.get(normal_image(services[service].image)) or found.get(services[service].image)
        if image is None or image.revision != revision:
            return False
    return True


@dataclass(frozen=True)
class RegistryAnswer:
    answers: bool
    login_needed: bool = False
    said: str = ""  # the engine's words, when it did not answer


# What a registry says of an image it does not hold, in the words of the registries
# Docker talks to (Distribution, Harbor, GitLab, the cloud ones).
ABSENT = ("manifest unknown", "not found", "name unknown", "repository does not exist")
NEEDS_LOGIN = ("unauthorized", "denied", "authentication required", "no basic auth credentials")


def parse_registry_check(stdout: str) -> RegistryAnswer:
    said = " ".join(stdout.split())
    lowered = said.lower()
    if any(words in lowered for words in NEEDS_LOGIN):
        return RegistryAnswer(True, login_needed=True)
    if any(words in lowered for words in ABSENT):
        return RegistryAnswer(True)
    return RegistryAnswer(False, said=said[-300:] or "no answer")


def registry_check(registry: str) -> Fact[RegistryAnswer]:
    return Fact("registry answers", cmd.registry_check(registry), parse_registry_check)


def stack_services(stack: str) -> Fact[dict[str, SwarmService]]:
    return Fact(f"the services of stack {stack}", cmd.stack_services(stack), lambda out: parse_services(out, stack), todo=f"run `docker stack services {stack}` on the manager to see why")


def stack_tasks(stack: str) -> Fact[list[SwarmTask]]:
    return Fact(f"the tasks of stack {stack}", cmd.stack_tasks(stack), lambda out: parse_tasks(out, stack), todo=f"run `docker stack ps {stack}` on the manager to see why")


def service_names(stack: str) -> Fact[list[str]]:
    """The stack's services, without the stack's prefix; none when it runs none."""
    return Fact(f"the service names of stack {stack}", cmd.stack_service_names(stack), lambda out: [name.removeprefix(f"{stack}_") for name in out.split()], otherwise=[])


def images_by_reference(references: list[str]) -> Fact[dict[str, InspectedImage]]:
    """The manager's images by reference (a tag or a registry digest), with their
    revision labels; one the manager lacks is left out (none when it answers nothing)."""
    return Fact("images by reference", cmd.images_by_reference(references), parse_references, otherwise={})


def last_log_lines(service: str, lines: int) -> Fact[list[str]]:
    """A service's last log lines, whatever `docker service logs` exits with."""
    return Fact(f"the log of {service}", cmd.service_logs(service, lines), read=lambda result: [line.strip() for line in (result.stdout + result.stderr).splitlines() if line.strip()][-lines:])
