"""The rollout on a Docker Swarm (DEPLOY_ENGINE=swarm), from its manager: the stack
file made from the release's configuration and written on the manager, `docker stack
deploy`, then a bounded wait until every task of every service runs the release's
image (a task with a healthcheck runs only once healthy). A release whose tasks never
get there is rolled back by the swarm itself (`update_config.failure_action`), the old
tasks go on serving, and the error says what the tasks did."""

from __future__ import annotations

import json
import time

from ..commands import images as image_commands
from ..commands import swarm as commands
from ..errors import DeployError, HostError
from ..facts import swarm as facts
from ..facts.host_state import Serving
from ..records import short
from ..target import Target
from . import stack_file
from .images import BuildGroup
from .look import Look, settled_release

POLL = 1.0
# One-off containers (the migration's check, `migrate`) join the stack's network.
NETWORK_FILE = "networks:\n  default:\n    name: {network}\n    external: true\n"


class SwarmRolledBack(DeployError):
    """The swarm gave up on the release's tasks and went back to the previous spec."""


def stack_name(t: Target) -> str:
    return t.settings.compose_project or ""


def stack_file_path(t: Target) -> str:
    return f"{t.state_dir}/stack.json"


def check_manager(t: Target) -> None:
    """A swarm engine must be an active manager: only a manager deploys stacks."""
    if not stack_name(t):
        raise HostError("DEPLOY_ENGINE=swarm needs DEPLOY_COMPOSE_PROJECT: the stack's name", "set DEPLOY_COMPOSE_PROJECT (for example the project's name) and run this again")
    state = t.probe(facts.swarm_state(), cwd=None)
    if not state.active:
        raise HostError(
            f"the Docker Engine on {t.name} is not in a swarm (DEPLOY_ENGINE=swarm)",
            f"run `docker swarm init` on {t.name} (or join it to your swarm as a manager), or set DEPLOY_ENGINE=compose",
        )
    if not state.manager:
        raise HostError(f"{t.name} is a swarm worker, and only a manager deploys a stack", "deploy with -H one of the swarm's managers (`docker node ls` there lists them)")


def check_registry(t: Target) -> None:
    """DEPLOY_REGISTRY must answer the manager's engine as a push will ask it."""
    registry = t.settings.registry
    if not registry:
        return
    answer = t.probe(facts.registry_check(registry), cwd=None)
    if answer.login_needed:
        raise HostError(f"the registry {registry} wants a login from {t.name}'s Docker Engine", f"run `docker login {registry}` on {t.name} as the deploy user")
    if not answer.answers:
        raise HostError(
            f"the registry {registry} does not answer {t.name}'s Docker Engine: {answer.said}",
            f"check DEPLOY_REGISTRY and that {t.name} reaches it (`docker pull {registry}/IMAGE` there); a registry without TLS must be in the engine's insecure-registries",
        )


def services(t: Target) -> dict[str, facts.SwarmService]:
    return t.probe(facts.stack_services(stack_name(t)), cwd=None)


def images_by_reference(t: Target, references: list[str]) -> dict[str, facts.InspectedImage]:
    """The manager's images the specs name, by reference (a tag or a registry digest),
    with their revision labels; one the manager lacks is left out."""
    if not references:
        return {}
    return t.probe(facts.images_by_reference(references), cwd=None)


def services_and_tasks(t: Target) -> tuple[dict[str, facts.SwarmService], list[facts.SwarmTask]] | None:
    """The stack's services and tasks, in one round trip; None when either cannot be read."""
    stack = stack_name(t)
    read = t.probe_all({"services": facts.stack_services(stack).or_else(None), "tasks": facts.stack_tasks(stack).or_else(None)}, cwd=None)
    if read["services"] is None or read["tasks"] is None:
        return None
    return read["services"], read["tasks"]


def serves_already(t: Target, seen: Look) -> str | None:
    """The commit, when the ref's commit already runs on the stack as a deploy of it
    leaves it (facts.runs_release), so that a redeploy locks, changes and records
    nothing: two round trips more than on Compose (the stack's services and tasks, then
    their images' labels)."""
    settled = settled_release(seen, t.settings.django_service, t.settings.compose_file)
    if settled is None:
        return None
    revision, group = settled
    read = services_and_tasks(t)
    if read is None:
        return None
    specs, tasks = read
    labelled = images_by_reference(t, sorted({specs[service].image for service in group.services if service in specs}))
    return revision if facts.runs_release(specs, tasks, labelled, group.all_services, group.services, revision) else None


def serving(t: Target, group: BuildGroup) -> Serving:
    """What the stack's services of the build group run: read from their specs and the
    labels of those images on the manager (two round trips)."""
    found = services(t)
    references = sorted({spec.image for spec in found.values() if spec.service in group.image_of})
    images = images_by_reference(t, references)
    return facts.serving(found, images, {s: group.image_of[s] for s in group.services}, t.settings.django_service)


def task_rows(t: Target) -> list[dict]:
    """The stack's tasks meant to run, for `status`: one row each, with the revision of
    its image where the manager has that image (two round trips)."""
    stack = stack_name(t)
    tasks = [task for task in t.probe(facts.stack_tasks(stack).or_else([]), cwd=None) if task.desired == "Running"]
    references = sorted({task.image for task in tasks})
    labelled = images_by_reference(t, references)
    rows = []
    for task in sorted(tasks, key=lambda task: (task.service, task.slot)):
        image = labelled.get(task.image)
        row = {"service": task.service, "container": f"{stack}_{task.service}.{task.slot}", "state": task.state.lower(), "health": None}
        rows.append(row | {"image": image.id if image else task.image, "revision": image.revision if image else None, "oneoff": False})
    return rows


def pinned_images(group: BuildGroup, revision: str) -> dict[str, str]:
    """Each service of the build group on the release's own tag: every task runs the
    image built (and proven) for the revision, never what `latest` names later."""
    return {service: image_commands.release_tag(group.image_of[service], revision) for service in group.services}


def push_images(t: Target, group: BuildGroup, revision: str) -> dict[str, str]:
    """Every image the project builds, pushed to DEPLOY_REGISTRY under its release tag:
    the build group's release images, and the other built services' images as the build
    left them. Returns, per service, the digest reference the registry gave: what every
    node pulls, so that each runs exactly the image built here."""
    registry = t.settings.registry or ""
    digests: dict[str, str] = {}
    pinned: dict[str, str] = {}
    for service in sorted(group.services + group.other_builds):
        config = group.configs[service]
        if config.image not in digests:
            source = image_commands.release_tag(config.image, revision) if service in group.services else config.image
            target = commands.registry_name(registry, image_commands.release_tag(config.image, revision))
            pushed = t.run(commands.push(source, target), cwd=None, stream=False, label=f"push {target}", todo=f"check that {t.name} reaches the registry {registry} (`docker push {target}` there)")
            digests[config.image] = facts.parse_digest(pushed.stdout, target) if not pushed.printed else target
        pinned[service] = digests[config.image]
    return pinned


def write_files(t: Target, group: BuildGroup, revision: str, pinned: dict[str, str] | None = None) -> dict[str, str]:
    """The stack file, made from the configuration the build read (it holds the
    services' environment: readable by the deploy user only, sent over SFTP, never in a
    command line), and the network file for one-off containers. Returns the image each
    service must run."""
    document = stack_file.stack_document(group.document, pinned if pinned is not None else pinned_images(group, revision))
    t.executor.write_file(stack_file_path(t), json.dumps(document, indent=1, sort_keys=True) + "\n", label="write the stack file")
    t.executor.write_file(t.project.network_file or "", NETWORK_FILE.format(network=f"{stack_name(t)}_default"), label="write the network file")
    return {service: body["image"] for service, body in document["services"].items()}


def deploy_stack(t: Target) -> None:
    argv = commands.stack_deploy(stack_name(t), stack_file_path(t), registry=bool(t.settings.registry))
    t.run(argv, cwd=None, stream=False, label="docker stack deploy", display=commands.shown(argv))


def images_for(t: Target, group: BuildGroup, revision: str) -> dict[str, str]:
    """What the stack file names for each service of the release: digests from the
    registry when there is one, else the build group's release tags."""
    if t.settings.registry:
        with t.step("push") as step:
            pinned = push_images(t, group, revision)
            step.note = f"{len(set(pinned.values()))} image(s) to {t.settings.registry}, named by digest"
        return pinned
    return pinned_images(group, revision)


def roll_out(t: Target, wanted: dict[str, str], revision: str, step_name: str = "restart") -> None:
    """The restart on a swarm: the stack file written before is deployed, and every
    task must come to run its image."""
    with t.step(step_name) as step:
        deploy_stack(t)
        wait_converged(t, wanted, t.settings.healthcheck_timeout)
        step.note = f"stack {stack_name(t)} on {short(revision)}: every task runs its image"


def bring_to(t: Target, group: BuildGroup, revision: str, step_name: str = "restart") -> dict[str, str]:
    """The stack file of `revision` (its images pinned, pushed again when there is a
    registry: the push of an image it holds only returns its digest), deployed, and
    the wait until every task runs it. Returns each service's image."""
    wanted = write_files(t, group, revision, images_for(t, group, revision))
    roll_out(t, wanted, revision, step_name)
    return wanted


def wait_converged(t: Target, wanted: dict[str, str], timeout: float) -> None:
    """Until every service in `wanted` runs its image on all its tasks, or the swarm
    rolls it back, or `timeout` seconds pass: then the error says what the tasks did."""
    stack = stack_name(t)
    deadline = time.monotonic() + timeout
    while True:
        read = t.probe_all({"services": facts.stack_services(stack).or_else({}), "tasks": facts.stack_tasks(stack).or_else([])}, cwd=None)
        now, running = read["services"], read["tasks"]
        state = facts.converged(now, running, wanted)
        if state.done or t.executor.dry_run:
            return
        if state.failed or time.monotonic() >= deadline:
            errors = facts.task_errors(running, list(wanted))
            logs = _logs(t, [service for service in wanted if any(service in line for line in (state.failed, *state.waiting))])
            said = "; ".join([*errors, *logs]) or "no task reported an error"
            if state.failed:
                raise SwarmRolledBack(
                    f"the release's tasks never ran healthy on {t.name}: {state.failed}; the old tasks keep serving; {said}",
                    f"see `docker service ps {stack}_SERVICE --no-trunc` and `docker service logs {stack}_SERVICE` on {t.name}",
                )
            raise DeployError(
                f"the stack {stack} on {t.name} did not converge within {timeout:g}s: " + "; ".join(state.waiting) + f"; {said}",
                f"see `docker stack ps {stack} --no-trunc` on {t.name}; the swarm goes on updating, or rolls back if the tasks fail",
            )
        time.sleep(POLL)


def _logs(t: Target, services: list[str]) -> list[str]:
    lines = []
    for service in services[:2]:
        lines += [f"{service} log: {line}" for line in t.probe(facts.last_log_lines(f"{stack_name(t)}_{service}", 3), cwd=None)]
    return lines
