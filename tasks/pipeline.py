"""The server pipelines, top to bottom as they run. `deploy`: preflight, lock, fetch,
checkout, build, plan, backup, migrate, restart in order, health gate, record, unlock.
`migrate_only`: preflight, lock, plan, stale-image check, backup, migrate, record,
unlock. A failure before the restart leaves the running containers alone and puts the
checkout and image tags back; a failure after it rolls back to the previous release."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass

from .errors import DeployError
from . import hooks
from .executor import Interrupted, deferred_interrupts
from .commands import compose
from .facts import compose as compose_facts
from .facts import git as git_facts
from .facts import migrations as migration_facts
from .steps import database, health, images, lock, releases, services, source
from .steps.preflight import HostState, preflight
from .target import Target


def short(revision: str | None) -> str:
    return revision[:12] if revision else "none"


def print_plan(t: Target, title: str, lines: list[tuple[str, str]]) -> None:
    s = t.settings
    t.report.say(f"{title} on {t.name}: {s.path}, {s.compose_file}")
    width = max(len(name) for name, _ in lines)
    for number, (name, what) in enumerate(lines, 1):
        t.report.say(f"  {number:>2}. {name:<{width}}  {what}")


def deploy_plan(t: Target, ref: str) -> list[tuple[str, str]]:
    s = t.settings
    return [
        ("preflight", "docker and compose usable, checkout clean, free disk (one round trip)"),
        ("lock", t.lock_dir),
        ("fetch", f"origin, resolve {ref} to a commit, check it out"),
        ("build", f"{s.django_service} and the services sharing its build, tagged with the revision; skipped when that revision's images are there"),
        ("plan", "pending migrations from git since the deployed release; a one-off container of the new image when a file was edited or the history is unknown; edited applied migrations refused"),
        ("backup", f"DEPLOY_BACKUP={s.backup}"),
        ("migrate", f"run --rm {s.django_service} python manage.py migrate --noinput; skipped when no migration file changed"),
        ("restart", "in order: " + ", ".join(s.restart_order) + ", then the others; only the services Compose would change"),
        ("health", f"{s.healthcheck_url} within {s.healthcheck_timeout}s" if s.healthcheck_url else "skipped: DEPLOY_HEALTHCHECK_URL is not set"),
        ("record", t.release_log),
    ]


def new_release(t: Target, kind: str, ref: str, previous: str | None) -> releases.Release:
    return releases.Release(kind=kind, host=t.name, user=lock.local_user(), ref=ref, started=lock.now_iso(), previous=previous)


def _plan(t: Target) -> list[migration_facts.Migration]:
    """Every migration the image knows, applied or not; the step notes the pending ones."""
    with t.step("plan") as step:
        known = database.plan(t)
        step.note = migration_facts.pending_note(migration_facts.pending(known))
    return known


def _backup(t: Target, release: releases.Release, pending: list[migration_facts.Migration], compose_services: list[str]) -> None:
    wanted, why = database.backup_decision(t, pending, compose_services)
    if not wanted:
        t.skip("backup", why)
        return
    with t.step("backup") as step:
        release.backup = database.backup(t)
        step.note = release.backup or why


def _migrate(t: Target, release: releases.Release, todo: str) -> None:
    with t.step("migrate") as step:
        try:
            result = database.migrate(t, todo)
        except Interrupted as interrupt:
            release.migrations = migration_facts.parse_applied(interrupt.result.stdout)
            raise
        # Django's own account of what it applied: right even when the plan was skipped.
        release.migrations = migration_facts.parse_applied(result.stdout)
        step.note = f"{len(release.migrations)} applied" if not t.dry_run else ""


def _finish(t: Target, release: releases.Release, began: float) -> None:
    release.seconds = round(time.monotonic() - began, 1)
    # A run that never got as far as a revision (a ref that does not exist) is bad
    # input, not a release: it leaves no trace.
    if t.dry_run or release.revision is None or release.result == "planned":
        return
    with t.step("record") as step:
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
        _failed(release, problem)
        raise
    finally:
        _finish(t, release, began)


@dataclass
class HostRun:
    """One host's part of a deploy."""

    t: Target
    state: HostState | None = None
    release: releases.Release | None = None
    group: images.BuildGroup | None = None
    revision: str | None = None
    checked_out: bool = False
    built: bool = False
    retagged: bool = False

    @property
    def unchanged(self) -> bool:
        """The same revision as deployed, with the images already in place."""
        return bool(self.revision) and self.revision == self.previous and not self.built and not self.retagged

    @property
    def previous(self) -> str | None:
        return self.state.revision if self.state else None


def in_parallel(runs: list[HostRun], work, label: str) -> None:
    """`work(run)` on every host at once (threads); each host's failure is reported, then
    one error names them all. A single host runs in this thread, output streaming."""
    if len(runs) == 1:
        work(runs[0])
        return
    failures: dict[str, BaseException] = {}
    with deferred_interrupts(label, ", ".join(run.t.name for run in runs)) as pending:
        with ThreadPoolExecutor(max_workers=len(runs)) as pool:
            futures = {pool.submit(work, run): run for run in runs}
            for future, run in futures.items():
                try:
                    future.result()
                except BaseException as problem:  # noqa: BLE001 - reported per host below
                    failures[run.t.name] = problem
    if pending.get("interrupted"):
        raise KeyboardInterrupt
    if len(failures) == 1:
        raise next(iter(failures.values()))
    if failures:
        raise DeployError(f"{label} failed on {len(failures)} hosts: " + "; ".join(f"{name}: {problem}" for name, problem in failures.items()), "")


def deploy(targets: list[Target], ref: str, primary: Target | None = None, options: DeployOptions | None = None) -> list[releases.Release]:
    """One deploy across `targets`: preflight and build everywhere at once, the lock on
    all hosts or none, migrations once on the primary before any restart, then one host
    at a time behind the health gate. The first unhealthy host is rolled back and the
    hosts after it stay on the old release."""
    first = targets[0]
    primary = primary or first
    options = options or DeployOptions()
    runs = [HostRun(t) for t in targets]
    names = [t.name for t in targets]
    print_plan(first, f"deploy {ref}" + (f" to {', '.join(names)} (migrations on {primary.name})" if len(targets) > 1 else ""), deploy_plan(first, ref))
    hooks.run_hook("pre-deploy", first.report, hosts=names, ref=ref)

    def check(run: HostRun) -> None:
        with run.t.step("preflight") as step:
            run.state = preflight(run.t)
            step.note = f"deployed: {short(run.state.revision)}" if run.state.checkout else "first deploy: will clone"
        if not run.state.checkout:
            with run.t.step("clone") as step:
                source.init_checkout(run.t)
                step.note = run.t.settings.repo_url

    in_parallel(runs, check, "preflight")
    for run in runs:
        run.release = new_release(run.t, "deploy", ref, run.previous)
    began = time.monotonic()
    try:
        with locks_on_all(targets, lock.new_lock("deploy", ref)):
            try:
                _deploy_locked(runs, ref, primary, options)
                for run in runs:
                    run.release.result = "ok"
                hooks.run_hook("post-deploy", first.report, hosts=names, ref=ref, revision=runs[0].revision, previous=runs[0].previous, result="ok")
            except PlanShown:
                return [run.release for run in runs]
            except BaseException as problem:
                for run in runs:
                    if run.release.result != "ok":
                        _failed(run.release, problem)
                if not first.dry_run:
                    hooks.run_hook("on-failure", first.report, hosts=names, ref=ref, revision=runs[0].revision, previous=runs[0].previous, result=str(problem) or type(problem).__name__)
                raise
            finally:
                for run in runs:
                    _finish(run.t, run.release, began)
    finally:
        if len(runs) > 1:
            first.report.hosts_table([(run.t.name, run.release.result, f"{short(run.previous)} -> {short(run.revision)}") for run in runs])
    return [run.release for run in runs]


def _failed(release: releases.Release, problem: BaseException) -> None:
    if release.result in ("rolled back", "not restarted"):
        release.error = release.error or (str(problem) or type(problem).__name__)
        return
    if isinstance(problem, KeyboardInterrupt):
        release.result, release.error = "interrupted", "interrupted by Ctrl-C"
    else:
        release.result, release.error = "failed", str(problem) or type(problem).__name__


@contextmanager
def locks_on_all(targets: list[Target], info):
    """The lock on every host, or on none: a refusal releases the ones already taken."""
    taken = []
    try:
        for t in targets:
            with t.step("lock"):
                lock.acquire(t, info)
            taken.append(t)
        yield
    finally:
        for t in reversed(taken):
            with t.step("unlock"):
                lock.release(t)


def _build(run: HostRun, ref: str) -> None:
    t = run.t
    with t.step("fetch") as step:
        run.revision = source.fetch(t, ref, checkout_exists=run.state.checkout)
        run.release.revision = run.revision
        step.note = f"{ref} is {short(run.revision)}" if run.revision else ref
    if run.revision and run.revision == run.previous:
        t.skip("checkout", f"{short(run.revision)} is checked out already")
    else:
        with t.step("checkout") as step:
            source.checkout(t, run.revision, ref)
            run.checked_out = True
            step.note = f"{short(run.previous)} -> {short(run.revision)}"
    with t.step("build") as step:
        run.group = images.build_group(t)
        reused = images.reuse_release(t, run.group, run.revision) if run.revision else None
        if reused is not None:
            run.retagged = reused
            step.note = f"skipped: the images of {short(run.revision)} are there" + (" (tags moved to them)" if reused else "")
            return
        images.keep_previous(t, run.group, run.previous)
        images.build(t, run.group)
        run.built = True
        if run.revision:
            images.tag_release(t, run.group, run.revision)
        step.note = ", ".join(run.group.services)


def _deploy_locked(runs: list[HostRun], ref: str, primary: Target, options: "DeployOptions") -> None:
    lead = next(run for run in runs if run.t is primary)
    try:
        in_parallel(runs, lambda run: _build(run, ref), "build")
        if options.plan_only:
            _show_plan(primary)
            for run in runs:
                run.release.result = "planned"
            raise PlanShown
        _migrations(primary, lead, options)
        hooks.run_hook("post-migrate", primary.report, hosts=[run.t.name for run in runs], ref=ref, revision=lead.revision, previous=lead.previous, result="migrated")
    except BaseException:
        # Nothing restarted yet: the old containers still serve. Put tags and code back.
        for run in runs:
            if run.checked_out:
                _revert(run.t, run.group, run.previous)
        raise

    for index, run in enumerate(runs):
        t = run.t
        try:
            _restart_changed(run)
            _health_gate(t)
        except BaseException as problem:
            reason = problem.what if isinstance(problem, DeployError) else "interrupted" if isinstance(problem, KeyboardInterrupt) else str(problem)
            later = runs[index + 1 :]
            for waiting in later:
                waiting.release.result = "not restarted"
                _revert(waiting.t, waiting.group, waiting.previous)
            if not run.previous or t.dry_run:
                raise
            run.release.result = "rolled back"
            _rollback(t, run.group, run.previous)
            left = f"; {', '.join(w.t.name for w in later)} stay on the old release" if later else ""
            done = f"; {', '.join(r.t.name for r in runs[:index])} run the new release" if index else ""
            raise DeployError(
                f"{reason}; {t.name} rolled back to the previous release {short(run.previous)}{left}{done}",
                f"it serves again; see `docker compose -f {t.settings.compose_file} logs {t.settings.django_service}` on {t.name}",
            ) from None
        run.release.result = "ok"
        if run.revision and run.revision != run.previous:
            _prune(t, run.group, run.revision)


class PlanShown(Exception):
    """`deploy --plan` stops after showing the plan; the hosts are put back as they were."""


@dataclass(frozen=True)
class DeployOptions:
    plan_only: bool = False
    allow_edited_migrations: bool = False


def _show_plan(t: Target) -> None:
    with t.step("plan") as step:
        pending = migration_facts.pending(database.plan(t))
        step.note = migration_facts.pending_note(pending)
    if pending:
        operations = database.operations(t, [m.label for m in pending])
        for line in migration_facts.format_plan(pending, operations):
            t.report.say(line)


def _trusted_previous(t: Target, previous: str | None) -> bool:
    """Did composeship put `previous` into service (so its migrations were all applied)?"""
    if not previous:
        return False
    served = releases.releases_served(releases.read_log(t))
    return bool(served) and served[0]["revision"] == previous


def _migrations(t: Target, lead: HostRun, options: DeployOptions) -> None:
    """Plan, guard, backup and migrate on the primary, skipping the one-off containers
    when git shows that no migration file changed since a release composeship deployed."""
    previous, revision, release = lead.previous, lead.revision, lead.release
    back_to = f"the checkout is back at {short(previous)}" if previous else "nothing was deployed before"
    todo = f"nothing was restarted: the old release keeps serving and {back_to}; fix it with a new migration and deploy again"
    # `trusted`: composeship put `previous` into service, so all its migrations ran.
    trusted = revision is not None and _trusted_previous(t, previous)
    changes = []
    if previous and revision and revision != previous:
        # A dry run has not fetched the new revision: then git cannot tell, and the plan runs.
        diff = t.run(git_facts.migration_changes(previous, revision).argv, probe=True, stream=False, check=False)
        trusted = trusted and diff.ok
        changes = git_facts.parse_name_status(diff.stdout) if diff.ok else []
    if trusted and not changes:
        t.skip("migrate", f"no migration file changed since {short(previous)}")
        return
    edits = [change for change in changes if change[0] in ("M", "D")]
    if trusted and not edits:
        # Only new files: they are what is pending; Django reports what it applied.
        added = sorted(f"{folder}.{name}" for folder, name in migration_facts.files_to_labels([path for _, path in changes]))
        t.skip("plan", f"{len(added)} new migration file(s) since {short(previous)}: {migration_facts.summarize(added)}")
        _backup(t, release, added, lead.group.all_services)
    else:
        known = _plan(t)
        if edits and not t.dry_run:
            edited = migration_facts.edited_applied(edits, known)
            if edited and not options.allow_edited_migrations:
                named = ", ".join(f"{path} ({label})" for path, label in edited)
                raise DeployError(
                    f"applied migrations were edited since {short(previous)}: {named}",
                    "never edit an applied migration: undo the edit and write a new migration for the change (--allow-edited-migrations deploys anyway)",
                )
            if edited:
                t.report.say(f"warning: deploying edited applied migrations (--allow-edited-migrations): {', '.join(path for path, _ in edited)}")
        _backup(t, release, migration_facts.pending(known), lead.group.all_services)
    _migrate(t, release, todo=todo)


def _restart_changed(run: HostRun) -> None:
    """Restart, in order, only the services whose container is missing, stopped, or out
    of date with its image or configuration, as Compose itself judges (`up --dry-run`).
    A redeploy of the running revision with its images in place restarts nothing
    unless a container is down."""
    t = run.t
    if run.unchanged and not t.dry_run:
        states = t.probe(compose_facts.containers(t.project))
        running = {s.service for s in states if s.ready}
        if all(service in running for service in run.group.services):
            t.skip("restart", "same revision and images as running")
            return
    if t.dry_run:
        services.restart(t, run.group.all_services)
        return
    result = t.run(compose.up_dry_run(t.project), probe=True, stream=False)
    changed = compose_facts.parse_up_dry_run(result.stdout + result.stderr, run.group.project_name, run.group.all_services)
    if not changed:
        t.skip("restart", "every service runs its current image and configuration")
        return
    services.restart(t, changed)


def _prune(t: Target, group: images.BuildGroup, current: str) -> None:
    """Keep the images of the newest DEPLOY_KEEP_RELEASES releases (this one counted)."""
    if t.dry_run:
        t.skip("prune", f"keeps the images of the last {t.settings.keep_releases} releases")
        return
    entries = releases.read_log(t) + [{"kind": "deploy", "result": "ok", "revision": current}]
    released = {entry["revision"] for entry in entries if entry.get("revision")}
    if len(released) <= t.settings.keep_releases:
        t.skip("prune", f"{len(released)} release(s) so far, {t.settings.keep_releases} are kept")
        return
    with t.step("prune") as step:
        removed = images.prune(t, group, released, releases.keep_revisions(entries, current, t.settings.keep_releases))
        step.note = f"removed {len(removed)} old image tag(s)" if removed else "nothing to remove"


def _health_gate(t: Target) -> None:
    url = t.settings.healthcheck_url
    if not url:
        t.skip("health", "DEPLOY_HEALTHCHECK_URL is not set")
        return
    with t.step("health") as step:
        healthy, answer = health.wait_healthy(t, url, t.settings.healthcheck_timeout)
        step.note = answer
        if not healthy:
            raise DeployError(f"{url} did not answer 2xx within {t.settings.healthcheck_timeout}s (last: {answer})", "")


def _revert(t: Target, group: images.BuildGroup | None, previous: str | None) -> None:
    if t.dry_run:
        return
    with t.step("revert") as step:
        if previous:
            if group:
                images.restore(t, group, previous)
            t.run(source.git.checkout(previous), stream=False)
            step.note = f"checkout and images back at {short(previous)}"
        else:
            step.note = "first deploy: nothing to go back to"


def _rollback(t: Target, group: images.BuildGroup, previous: str) -> None:
    with t.step("rollback") as step:
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
    with t.step("preflight") as step:
        state = preflight(t, first_deploy=False, require_clean=False)
        step.note = f"deployed: {short(state.revision)}"
    release = new_release(t, "migrate-only", "", state.revision)
    release.revision = state.revision
    with lock.held(t, lock.new_lock("migrate-only")), recorded(t, release):
        compose_services = images.build_group(t).all_services
        known = _plan(t)
        with t.step("stale image") as step:
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
        _migrate(t, release, todo="PostgreSQL rolled the failed migration's transaction back; fix it with a new migration")
    return release


def rollback_plan(t: Target, target: str, with_migrations: bool) -> list[tuple[str, str]]:
    return [
        ("preflight", "docker and compose usable, checkout clean"),
        ("lock", t.lock_dir),
        ("plan", f"migrations applied after {short(target)}: named" + (", reversed if all are reversible" if with_migrations else ", left applied")),
        ("switch", f"image tags and checkout back to {short(target)} (no build)"),
        ("restart", "in order: " + ", ".join(t.settings.restart_order) + ", then the other services (each only if changed)"),
        ("health", t.settings.healthcheck_url or "skipped: DEPLOY_HEALTHCHECK_URL is not set"),
        ("record", t.release_log),
    ]


def choose_rollback(t: Target, entries: list[dict], current: str | None, to: str | None) -> dict:
    if to:
        chosen = releases.find_release(entries, to)
        if not chosen:
            raise DeployError(f"{to!r} is not one release of {t.name}", f"pick one from `fab -H {t.name} rollback --list`")
        if chosen["revision"] == current:
            raise DeployError(f"{short(current)} is already deployed on {t.name}", f"pick another one from `fab -H {t.name} rollback --list`")
        return chosen
    chosen = releases.previous_release(entries, current)
    if not chosen:
        raise DeployError(f"there is no earlier release of {t.name} to roll back to", f"see `fab -H {t.name} releases`; deploy a revision with `fab -H {t.name} deploy --ref REV`")
    return chosen


def rollback(t: Target, to: str | None, with_migrations: bool) -> releases.Release:
    with t.step("preflight") as step:
        state = preflight(t, first_deploy=False)
        entries = releases.read_log(t)
        chosen = choose_rollback(t, entries, state.revision, to)
        target = chosen["revision"]
        group = images.build_group(t)
        missing = images.missing_release_images(t, group, target)
        if missing and not t.dry_run:
            raise DeployError(
                f"the images of {short(target)} are no longer on {t.name}: {', '.join(missing)}",
                f"deploy it again instead (`fab -H {t.name} deploy --ref {target}`), which rebuilds them",
            )
        step.note = f"{short(state.revision)} -> {short(target)} (deployed {chosen.get('started', '?')} by {chosen.get('user', '?')})"
    print_plan(t, f"rollback to {short(target)}", rollback_plan(t, target, with_migrations))
    release = new_release(t, "rollback", chosen.get("ref", ""), state.revision)
    release.revision = target
    with lock.held(t, lock.new_lock("rollback", short(target))), recorded(t, release):
        with t.step("plan") as step:
            known = database.plan(t)
            current_files = t.run(source.git.files_at("HEAD"), probe=True, stream=False).stdout.split()
            target_files = t.run(source.git.files_at(target), probe=True, stream=False).stdout.split()
            undo, app_targets = migration_facts.undo_targets(known, current_files, target_files)
            labels = [m.label for m in undo]
            step.note = f"{len(undo)} applied after {short(target)}" + (f": {migration_facts.summarize(labels)}" if undo else "")
        if undo and not with_migrations:
            t.skip("unmigrate", f"left applied: {', '.join(labels)} (pass --migrations to reverse them)")
        elif undo:
            with t.step("reversible") as step:
                blocked = database.irreversible(t, labels)
                if blocked:
                    named = "; ".join(f"{label} ({', '.join(ops)})" for label, ops in blocked.items())
                    raise DeployError(
                        f"cannot reverse the migrations: irreversible {named}",
                        "roll back without --migrations (the schema stays as it is), or fix forward with a new migration",
                    )
                step.note = "all reversible"
            _backup(t, release, undo, group.all_services)
            with t.step("unmigrate") as step:
                for app, name in app_targets.items():
                    database.unapply(t, app, name)
                release.unapplied = labels
                step.note = ", ".join(f"{app} -> {name}" for app, name in app_targets.items())
        with t.step("switch") as step:
            images.restore(t, group, target)
            t.run(source.git.checkout(target), stream=False)
            step.note = f"{short(state.revision)} -> {short(target)}"
        services.restart(t, group.all_services)
        _health_gate(t)
    return release
