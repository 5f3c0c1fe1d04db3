"""The server pipelines, top to bottom as they run. `deploy`: preflight, lock, fetch,
checkout, build, plan, backup, migrate, restart in order, health gate, record, unlock.
`migrate_only`: preflight, lock, plan, stale-image check, backup, migrate, record,
unlock. A failure before the restart leaves the running containers alone and puts the
checkout and image tags back; a failure after it rolls back to the previous release."""

from __future__ import annotations

import time
from contextlib import contextmanager

from .errors import DeployError
from .executor import Interrupted
from .facts import git as git_facts
from .facts import migrations as migration_facts
from .steps import database, health, images, lock, releases, services, source
from .steps.preflight import HostState, preflight
from .target import Target


def short(revision: str | None) -> str:
    return revision[:12] if revision else "none"


def pending_note(pending: list[migration_facts.Migration], shown: int = 3) -> str:
    labels = [m.label for m in pending]
    listed = ", ".join(labels[:shown]) + (f" and {len(labels) - shown} more" if len(labels) > shown else "")
    return f"{len(labels)} pending" + (f": {listed}" if labels else "")


def print_plan(t: Target, title: str, lines: list[tuple[str, str]]) -> None:
    s = t.settings
    t.report.say(f"{title} on {t.name}: {s.path}, {s.compose_file}")
    width = max(len(name) for name, _ in lines)
    for number, (name, what) in enumerate(lines, 1):
        t.report.say(f"  {number:>2}. {name:<{width}}  {what}")


def deploy_plan(t: Target, ref: str) -> list[tuple[str, str]]:
    s = t.settings
    return [
        ("preflight", "docker and compose usable, checkout clean, free disk"),
        ("lock", t.lock_dir),
        ("fetch", f"origin, resolve {ref} to a commit, check it out"),
        ("build", f"{s.django_service} and the services sharing its build, tagged with the revision"),
        ("plan", "pending migrations, from a one-off container of the new image"),
        ("backup", f"DEPLOY_BACKUP={s.backup}"),
        ("migrate", f"run --rm {s.django_service} python manage.py migrate --noinput"),
        ("restart", "in order: " + ", ".join(s.restart_order) + ", then the other services (each only if changed)"),
        ("health", f"{s.healthcheck_url} within {s.healthcheck_timeout}s" if s.healthcheck_url else "skipped: DEPLOY_HEALTHCHECK_URL is not set"),
        ("record", t.release_log),
    ]


def new_release(t: Target, kind: str, ref: str, previous: str | None) -> releases.Release:
    return releases.Release(kind=kind, host=t.name, user=lock.local_user(), ref=ref, started=lock.now_iso(), previous=previous)


def _plan(t: Target) -> list[migration_facts.Migration]:
    """Every migration the image knows, applied or not; the step notes the pending ones."""
    with t.report.step("plan") as step:
        known = database.plan(t)
        step.note = pending_note(migration_facts.pending(known))
    return known


def _backup(t: Target, release: releases.Release, pending: list[migration_facts.Migration], compose_services: list[str]) -> None:
    wanted, why = database.backup_decision(t, pending, compose_services)
    if not wanted:
        t.report.skip("backup", why)
        return
    with t.report.step("backup") as step:
        release.backup = database.backup(t)
        step.note = release.backup or why


def _migrate(t: Target, release: releases.Release, pending, todo: str) -> None:
    with t.report.step("migrate") as step:
        try:
            database.migrate(t, todo)
        except Interrupted as interrupt:
            if interrupt.result.ok:
                release.migrations = [m.label for m in pending]
            raise
        release.migrations = [m.label for m in pending]
        step.note = f"{len(pending)} applied" if not t.dry_run else ""


def _finish(t: Target, release: releases.Release, began: float) -> None:
    release.seconds = round(time.monotonic() - began, 1)
    # A run that never got as far as a revision (a ref that does not exist) is bad
    # input, not a release: it leaves no trace.
    if t.dry_run or release.revision is None:
        return
    with t.report.step("record") as step:
        releases.record(t, release)
        step.note = f"{release.result}, {short(release.revision)}"


@contextmanager
def recorded(t: Target, release: releases.Release):
    """The release's result follows how the block ends; the log gets its line either way."""
    began = time.monotonic()
    try:
        yield release
        release.result = "ok"
    except BaseException as problem:
        if isinstance(problem, KeyboardInterrupt):
            release.result, release.error = "interrupted", "interrupted by Ctrl-C"
        else:
            release.error = str(problem) or type(problem).__name__
        raise
    finally:
        _finish(t, release, began)


def deploy(t: Target, ref: str) -> releases.Release:
    print_plan(t, f"deploy {ref}", deploy_plan(t, ref))
    with t.report.step("preflight") as step:
        state = preflight(t)
        step.note = f"deployed: {short(state.revision)}" if state.checkout else "first deploy: will clone"
    if not state.checkout:
        with t.report.step("clone") as step:
            source.init_checkout(t)
            step.note = t.settings.repo_url
    release = new_release(t, "deploy", ref, state.revision)
    with lock.held(t, lock.new_lock("deploy", ref)), recorded(t, release):
        _deploy_locked(t, ref, state, release)
    return release


def _deploy_locked(t: Target, ref: str, state: HostState, release: releases.Release) -> None:
    previous = state.revision
    with t.report.step("fetch") as step:
        revision = source.fetch(t, ref, checkout_exists=state.checkout)
        release.revision = revision
        step.note = f"{ref} is {short(revision)}" if revision else ref
    with t.report.step("checkout") as step:
        source.checkout(t, revision, ref)
        step.note = f"{short(previous)} -> {short(revision)}"

    group = None
    try:
        with t.report.step("build") as step:
            group = images.build_group(t)
            images.keep_previous(t, group, previous)
            images.build(t, group)
            if revision:
                images.tag_release(t, group, revision)
            step.note = ", ".join(group.services)
        pending = migration_facts.pending(_plan(t))
        _backup(t, release, pending, group.all_services)
        back_to = f"the checkout is back at {short(previous)}" if previous else "nothing was deployed before"
        _migrate(t, release, pending, todo=f"nothing was restarted: the old release keeps serving and {back_to}; fix it with a new migration and deploy again")
    except BaseException:
        # Nothing restarted yet: the old containers still serve. Put tags and code back.
        _revert(t, group, previous)
        raise

    try:
        services.restart(t, group.all_services)
        _health_gate(t)
    except BaseException as problem:
        if not previous or t.dry_run:
            raise
        release.result = "rolled back"
        _rollback(t, group, previous)
        reason = problem.what if isinstance(problem, DeployError) else "interrupted" if isinstance(problem, KeyboardInterrupt) else str(problem)
        raise DeployError(
            f"{reason}; rolled back to the previous release {short(previous)}",
            f"it serves again; see `docker compose -f {t.settings.compose_file} logs {t.settings.django_service}` on {t.name}",
        ) from None


def _health_gate(t: Target) -> None:
    url = t.settings.healthcheck_url
    if not url:
        t.report.skip("health", "DEPLOY_HEALTHCHECK_URL is not set")
        return
    with t.report.step("health") as step:
        healthy, answer = health.wait_healthy(t, url, t.settings.healthcheck_timeout)
        step.note = answer
        if not healthy:
            raise DeployError(f"{url} did not answer 2xx within {t.settings.healthcheck_timeout}s (last: {answer})", "")


def _revert(t: Target, group: images.BuildGroup | None, previous: str | None) -> None:
    if t.dry_run:
        return
    with t.report.step("revert") as step:
        if previous:
            if group:
                images.restore(t, group, previous)
            t.run(source.git.checkout(previous), stream=False)
            step.note = f"checkout and images back at {short(previous)}"
        else:
            step.note = "first deploy: nothing to go back to"


def _rollback(t: Target, group: images.BuildGroup, previous: str) -> None:
    with t.report.step("rollback") as step:
        missing = images.restore(t, group, previous)
        t.run(source.git.checkout(previous), stream=False)
        step.note = f"back at {short(previous)}" + (f"; no image for {', '.join(missing)}" if missing else "")
    services.restart(t, group.all_services)


def migrate_only(t: Target, force: bool) -> releases.Release:
    s = t.settings
    print_plan(
        t,
        "migrate-only",
        [
            ("preflight", "docker and compose usable, checkout present"),
            ("lock", t.lock_dir),
            ("plan", "pending migrations, from a one-off container of the current image"),
            ("stale image", "refuse when the checkout has migrations the image lacks" + (" (--force: warn only)" if force else "")),
            ("backup", f"DEPLOY_BACKUP={s.backup}"),
            ("migrate", f"run --rm {s.django_service} python manage.py migrate --noinput"),
            ("record", t.release_log),
        ],
    )
    with t.report.step("preflight") as step:
        state = preflight(t, first_deploy=False, require_clean=False)
        step.note = f"deployed: {short(state.revision)}"
    release = new_release(t, "migrate-only", "", state.revision)
    release.revision = state.revision
    with lock.held(t, lock.new_lock("migrate-only")), recorded(t, release):
        compose_services = images.build_group(t).all_services
        known = _plan(t)
        with t.report.step("stale image") as step:
            if not t.dry_run:
                stale = migration_facts.stale_migrations(t.probe(git_facts.migration_files()), known)
                if stale and not force:
                    raise DeployError(
                        f"the {s.django_service} image on {t.name} lacks migrations that the checkout has: {', '.join(stale)}",
                        f"rebuild first with `fab -H {t.name} deploy`, or pass --force to migrate with the image as it is",
                    )
                step.note = f"ignored (--force): {', '.join(stale)}" if stale else "image matches the checkout"
        pending = migration_facts.pending(known)
        _backup(t, release, pending, compose_services)
        _migrate(t, release, pending, todo="PostgreSQL rolled the failed migration's transaction back; fix it with a new migration")
    return release
