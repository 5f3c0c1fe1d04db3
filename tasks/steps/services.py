"""Restarting: which services need it (decided from what their containers run), how
(rolled out without downtime, or recreated in place, in order), then a check on the
host that every restarted service runs the release's image."""

from __future__ import annotations

from typing import Sequence

from ..commands import compose
from ..commands import images as image_commands
from ..errors import DeployError
from ..facts import Fact
from ..facts import compose as compose_facts
from ..facts import images as image_facts
from ..facts.host_state import Container, of_service, parse_containers
from ..facts.images import InspectedImage
from ..target import Target
from . import rollout
from .images import BuildGroup
from .rollout import Strategy, strategy


def explain_preview(t: Target, ref: str) -> str:
    return "what the restart would do as it stands now: each service to restart and how, an outage said first; then checkout and tags go back"


def restart_order(preferred: Sequence[str], services: Sequence[str]) -> list[str]:
    first = [name for name in preferred if name in services]
    return first + [name for name in services if name not in first]


def dependencies_first(ordered: Sequence[str], configs: dict) -> list[str]:
    """`ordered`, but each service after those of the list it depends on (postgres
    before django on a first deploy); a dependency cycle keeps the given order."""
    wanted, placed, result = set(ordered), set(), []

    def place(service: str, path: tuple[str, ...] = ()) -> None:
        if service in placed or service in path:
            return
        config = configs.get(service)
        for needed in config.depends_on if config else ():
            if needed in wanted:
                place(needed, path + (service,))
        placed.add(service)
        result.append(service)

    for service in ordered:
        place(service)
    return result


def running_containers(containers: Sequence[Container], service: str) -> list[Container]:
    """The service's own running containers (one-off ones aside)."""
    return [c for c in of_service(containers, service) if c.state == "running"]


def stale_services(containers: Sequence[Container], group: BuildGroup, target_ids: dict[str, str | None]) -> list[str]:
    """Services of the build group whose containers do not all run the target image
    (an unknown target image counts as different)."""
    stale = []
    for service in group.services:
        wanted = target_ids.get(group.image_of[service])
        running = running_containers(containers, service)
        if not wanted or not running or any(c.image_id != wanted for c in running):
            stale.append(service)
    return stale


def not_ready(containers: Sequence[Container], services: Sequence[str]) -> list[str]:
    found = []
    for service in services:
        mine = of_service(containers, service)
        if not mine or not all(c.ready for c in mine):
            found.append(service)
    return found


def first_wave(containers: Sequence[Container], group: BuildGroup, target_ids: dict[str, str | None]) -> list[str]:
    """What is known to need the release without asking Compose: the build group's
    services not on the release's image, and every service not running and ready."""
    return sorted(set(stale_services(containers, group, target_ids)) | set(not_ready(containers, group.all_services)))


def changed_by_compose(t: Target, group: BuildGroup, known: Sequence[str]) -> list[str]:
    """What Compose would still change (`up --dry-run`: another image or configuration),
    besides `known`. Asked after the first wave, whose services then run: Compose's
    dry run gives up on stopped dependencies (after an engine restart, say)."""
    fact = compose_facts.changed_by_up(t.project, group.project_name, group.all_services)
    changed = t.probe(fact.or_else([]) if known else fact)
    return [service for service in changed if service not in known]


def what_runs(t: Target, group: BuildGroup) -> tuple[list[Container], dict[str, InspectedImage]]:
    """The project's containers, and the image each of its image names points to now (a
    build may have moved the proxy's, say): read when the restart is decided, since the
    engine may have restarted (and stopped everything) after the lock's look. Plain
    docker commands, one round trip."""
    names = sorted({config.image for config in group.configs.values() if config.image})
    listed = _containers(group.project_name)
    read = t.executor.probe_batch({"containers": (listed.argv, None), "images": (image_commands.inspect(names), None)})
    containers, found = read["containers"], read["images"]
    if not containers.ok:
        raise t.executor.failure(containers, shown=False)
    return listed.parse(containers.stdout), image_facts.parse_inspect(found.stdout)


def others_on_their_images(containers: Sequence[Container], images: dict[str, InspectedImage], group: BuildGroup, known: Sequence[str]) -> bool:
    """Does every service besides `known` run the image its name points to? When it
    does and the configuration is the serving release's, Compose's dry run (0.7 s)
    has nothing to add."""
    for service, config in group.configs.items():
        mine = of_service(containers, service)
        if service not in known and any(c.image_id != image_facts.id_of(images, config.image) for c in mine):
            return False
    return True


def bring_to_release(t: Target, group: BuildGroup, target_ids: dict[str, str | None], *, same_revision: bool, same_config: bool) -> tuple[list[str], str]:
    """Restart what needs the release, in two waves, each in DEPLOY_RESTART_ORDER and
    checked: first what is known from the containers (the build group on an old image,
    anything down), so that the new code serves without waiting for Compose's dry run;
    then what Compose says changed besides (a proxy's new image, a service's
    configuration). `same_config`: the configuration is the one the serving release was
    deployed with, so Compose is asked only when another service's image moved; with
    `same_revision` too and every container up on its image, nothing is touched.
    Returns (what was restarted, why nothing when empty)."""
    containers, images = what_runs(t, group)
    first = restart_order(t.settings.restart_order, first_wave(containers, group, target_ids))
    if same_revision and same_config and not first:
        return [], "same revision, images and configuration as running"
    if first:
        restart(t, group, first, containers)
        verify(t, group, first, target_ids)
    settled = same_config and others_on_their_images(containers, images, group, first)
    later = [] if settled else restart_order(t.settings.restart_order, changed_by_compose(t, group, first))
    if later:
        restart(t, group, later, current_containers(t, group.project_name) if first else containers)
        verify(t, group, later, target_ids)
    done = first + later
    return done, "" if done else "every service runs its current image and configuration"


def _containers(project_name: str) -> Fact[list[Container]]:
    return Fact("containers", compose.labelled_containers_and_images(project_name), parse_containers)


def current_containers(t: Target, project_name: str) -> list[Container]:
    return t.probe(_containers(project_name), cwd=None)


def strategies(group: BuildGroup, settings, services: Sequence[str] | None = None) -> dict[str, Strategy]:
    """How each service (of the build group, unless `services` are given) gets the
    release: rolled out beside the old containers (and when a new one counts as ready),
    or recreated in place (and why)."""
    chosen = group.services if services is None else services
    return {service: strategy(group.configs[service], settings.singleton_services, rollout.readiness(settings, group.configs[service])) for service in chosen if service in group.configs}


CHECKOUT_AS_IT_IS = "read from the checkout as it is now: a dry run checks nothing out, so the release's own compose file is read only by a real run (`deploy --plan` shows it)"


def say_how(t: Target, group: BuildGroup, *, as_checked_out_now: bool = False) -> None:
    """Said once the release's configuration is known and before anything restarts:
    how each service of the build group will get it (an outage, and what avoids it,
    included)."""
    for way in strategies(group, t.settings).values():
        t.report.say(f"{t.name}: {way.describe()}")
    if as_checked_out_now:
        t.report.say(f"{t.name}: ({CHECKOUT_AS_IT_IS})")


def preview(t: Target, group: BuildGroup, target_ids: dict[str, str | None]) -> list[str]:
    """What the restart would do, for `deploy --plan`: the services that need the
    release (as the restart decides it, Compose's dry run included), each with how it
    gets it. Read only."""
    containers, _ = what_runs(t, group)
    first = first_wave(containers, group, target_ids)
    wanted = restart_order(t.settings.restart_order, first + changed_by_compose(t, group, first))
    ways = strategies(group, t.settings, wanted)
    return [f"{t.name}: {ways[service].describe() if service in ways else service + ': started'}" for service in wanted]


def restart(t: Target, group: BuildGroup, services: Sequence[str], current: Sequence[Container]) -> None:
    """Bring `services` to the release. The services of the build group that can run
    twice and run now (in `current`, the containers observed) are rolled out together
    (no downtime); the others are started or recreated one at a time, in
    DEPLOY_RESTART_ORDER, each running (and healthy, where it has a healthcheck) before
    the next."""
    ordered = restart_order(t.settings.restart_order, services)
    running = {s: running_containers(current, s) for s in ordered}
    ways = strategies(group, t.settings)
    rolled = [s for s in ordered if s in ways and ways[s].rolls_out and running[s] and all(c.ready for c in running[s])]
    if rolled:
        with t.step("restart") as step:
            rollout.roll_out(t, rolled, running, group.configs, group.project_name)
            step.note = f"rolled out {', '.join(rolled)}: no downtime"
    for service in dependencies_first([s for s in ordered if s not in rolled], group.configs):
        way = ways.get(service) or (strategy(group.configs[service], t.settings.singleton_services) if service in group.configs else None)
        in_place = running[service] and way is not None and not way.rolls_out
        if in_place and service not in ways:
            # The build group's were said once the release was checked out; this one
            # (the proxy, say) only now that Compose says it changed.
            t.report.say(f"{t.name}: {way.describe()}")
        with t.step(f"restart {service}") as step:
            result = t.run(compose.up_service(t.project, service), stream=False, todo=f"see `docker compose logs {service}` on {t.name}")
            step.note = recreated_note(result.stderr)
            if step.note == "recreated" and in_place:
                step.note += f": a short outage because {way.reason}"
            if service in group.configs:
                rollout.wait_until_ready(t, service, group.configs[service], group.project_name)


def verify(t: Target, group: BuildGroup, services: Sequence[str], target_ids: dict[str, str | None]) -> None:
    """On the host: every restarted service of the group runs the release's image."""
    expected = {s: target_ids[group.image_of[s]] for s in services if s in group.image_of and target_ids.get(group.image_of[s])}
    if not expected:
        return
    result = t.run(compose.verify_running(group.project_name, expected), cwd=None, stream=False, check=False, label="the image check")
    if not result.ok:
        found = rollout.what_it_said(result, "; ")
        raise DeployError(
            f"after the restart on {t.name}, not every service runs the release's image: {found}",
            f"see `docker compose ps` and the logs of those services on {t.name}",
        )


def recreated_note(compose_output: str) -> str:
    """Compose reports `Recreated`/`Started` for a container it (re)created, `Running` otherwise."""
    if any(word in compose_output for word in ("Recreated", "Created", "Started")):
        return "recreated"
    return "unchanged" if "Running" in compose_output else ""
