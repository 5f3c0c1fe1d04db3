"""After the lock is taken: read what the host runs, and clean up after a run that was
killed before it could (its journal is still there). The checkout and the image
tags go back to what serves, the killed run gets its true line in the release log,
and a migrate container it left running stops everything until it has ended."""

from __future__ import annotations

from dataclasses import dataclass

from ..commands import git
from ..commands import rollout as rollout_commands
from ..engine import engine_of
from ..errors import HostError
from ..facts import host_state
from ..facts.host_state import Container, Observed, Serving, of_service
from ..records import Journal, Outcome, Release, short
from ..target import Target
from . import images, journal
from .images import BuildGroup


def explain(t: Target, ref: str) -> str:
    return "what runs: each service's containers, their images and the revisions those were built from; recover after a killed run"


@dataclass
class HostView:
    """What a locked run knows about its host before changing anything."""

    observed: Observed
    group: BuildGroup | None  # None: an empty checkout (a first deploy before its fetch)
    serving: Serving


def observe(t: Target) -> Observed:
    return host_state.parse(t.executor.probe_batch(host_state.batch(t.project, t.path, t.lock_dir, t.journal_path, t.release_log)))


def view(t: Target, observed: Observed) -> HostView:
    if observed.config is None and observed.checkout is None:
        return HostView(observed, None, Serving(None))
    if observed.config is None:
        raise HostError(
            f"`docker compose config` fails for {t.settings.compose_file} in {t.path} on {t.name}",
            f"run `{t.settings.compose_command} config` there to see why",
        )
    group = images.group_of(observed.config, t.settings.django_service, t.settings.compose_file)
    return HostView(observed, group, engine_of(t).serving(t, observed, group))


def recover(t: Target) -> HostView:
    """Observe the host; when a killed run's journal is there, put the checkout and the
    image tags back to what serves and record that run as interrupted."""
    with t.step("observe") as step:
        found = view(t, observe(t))
        step.note = f"serving {found.serving.describe()}" + (f"; checkout at {short(found.observed.checkout)}" if found.observed.checkout != found.serving.revision else "")
    killed = found.observed.journal
    where = f"a {killed.kind} of {killed.ref or short(killed.target)} by {killed.user} (started {killed.started}) was stopped at step {killed.step!r}" if killed else ""
    if killed is not None:
        t.report.say(f"{t.name}: {where} and never cleaned up")
    # Looked for whether or not a journal is left: a run that lost its connection
    # during `migrate` cleans up after itself while its container goes on.
    migrating = found.observed.running_migrations()
    if migrating:
        names = ", ".join(c.name for c in migrating)
        raise HostError(
            f"on {t.name}, {where + ', and its' if killed else 'the'} migrate container {names} is still running"
            + ("" if killed else " (a run lost its connection while it migrated, or someone migrates by hand)"),
            f"nothing migrates until it has ended: wait for it (`docker wait {migrating[0].name}` on {t.name}), then run this again",
        )
    if killed is None:
        return found
    restored = engine_of(t).restore_killed(t, found, killed)
    if restored:
        found = view(t, observe(t))
    with t.step("recover") as step:
        serving = found.serving
        beside = started_beside(found, killed)
        if beside:
            # Its rollout stopped half-way: the new containers, which never passed the
            # health gate, go; what served before it (its journal says) goes on serving.
            grace = {found.group.configs[c.service].stop_grace for c in beside}
            t.run(rollout_commands.retire({max(grace): [c.id for c in beside]}, 0), cwd=None, stream=False, label="stop the stopped run's new containers")
            serving = Serving(killed.serving, dict(killed.serving_images))
        if serving.images:
            images.point_at(t, serving.images)
        back_to = serving.revision or killed.checkout
        if back_to and found.observed.checkout != back_to:
            t.run(git.checkout(back_to), stream=False)
        left = Release(
            kind=killed.kind,
            host=t.name,
            user=killed.user,
            ref=killed.ref,
            started=killed.started,
            previous=killed.serving,
            revision=killed.target,
            result=Outcome.INTERRUPTED,
            step=killed.step,
            error=f"stopped at step {killed.step} without cleaning up (killed, or its connection lost); the next run found {serving.describe()} serving and put the checkout and image tags back to it",
        )
        journal.close_unowned(t, left)
        stopped = f"stopped its new containers ({', '.join(c.name for c in beside)}); " if beside else ""
        step.note = f"{restored}{stopped}checkout and image tags back to what serves ({serving.describe()}); recorded the stopped run"
    return view(t, observe(t))


def started_beside(found: HostView, killed: Journal) -> list[Container]:
    """The containers a killed run's rollout started beside the old ones: running, of
    another image than the one its journal says the service ran, while a container of
    that one still runs."""
    if found.group is None or not killed.serving_images:
        return []
    beside = []
    for service in found.group.services:
        before = killed.serving_images.get(found.group.configs[service].image)
        running = [c for c in of_service(found.observed.containers, service) if c.state == "running"]
        if before and any(c.image_id == before for c in running):
            beside += [c for c in running if c.image_id != before]
    return beside
