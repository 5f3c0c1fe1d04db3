"""`deploy`, top to bottom: preflight, lock, observe (and recover), fetch, checkout,
build, plan, backup, migrate, restart in order, health gate, record, unlock — on one
host or many. Preflight and build run on all hosts at once, the lock is taken on all
or none, migrations run once on the primary before any restart, then the first host
rolls out behind the health gate and the others follow together. A failure before
the restart leaves the running containers alone and puts checkout and image tags
back; a failure after it rolls the host back to what served, and checks that it
answers again."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .. import hooks
from ..engine import engine_of
from ..errors import DeployError
from ..executor import Stopped, deferred_interrupts
from ..records import Outcome, Release
from ..settings import redact_url
from ..steps import health, images, lock, migrate, migrations, preflight, source, swarm
from ..steps.look import look
from ..target import Target
from .common import (
    Cleanup,
    HostRun,
    begin,
    describe,
    failed,
    finish,
    in_parallel,
    new_release,
    print_plan,
    prune,
    revert,
    roll_back,
    short,
    take_lock,
    unlock,
)


@dataclass(frozen=True)
class DeployOptions:
    plan_only: bool = False
    allow_edited_migrations: bool = False
    allow_unsafe_migrations: bool = False


class PlanShown(Exception):
    """`deploy --plan` stops after showing the plan; the hosts are put back as they were."""


def deploy_plan(t: Target, ref: str) -> list[tuple[str, str]]:
    s = t.settings
    return [
        ("preflight", "docker and compose usable, checkout clean, free disk, and whether the ref serves already: then nothing else runs (one round trip)"),
        ("lock", t.lock_dir),
        ("observe", "what runs: each service's containers, their images and the revisions those were built from; recover after a killed run"),
        ("fetch", f"resolve {ref} on origin to a commit, fetch it unless it is here already, check it out"),
        ("build", f"{s.django_service} and the services sharing its build, labelled and tagged with the revision; skipped when images proven to be that revision's are there"),
        *engine_of(t).plan_before_migrate(t),
        ("plan", "when a migration file changed: a one-off container of the new image lists the pending migrations and checks each against the old code; unsafe or edited applied ones refused"),
        ("backup", f"DEPLOY_BACKUP={s.backup}"),
        ("migrate", f"run --rm {s.django_service} python manage.py migrate --noinput, lock_timeout {s.migration_lock_timeout or 'not set'}; skipped when no migration file changed"),
        ("restart", engine_of(t).plan_restart(t)),
        ("health", f"{redact_url(s.healthcheck_url)} within {s.healthcheck_timeout}s" if s.healthcheck_url else "skipped: DEPLOY_HEALTHCHECK_URL is not set"),
        ("post-migrate", "the migrations marked to run after the deploy, once every host serves the release (none: skipped)"),
        ("record", t.release_log),
    ]


def deploy(targets: list[Target], ref: str, primary: Target | None = None, options: DeployOptions | None = None) -> list[Release]:
    first = targets[0]
    primary = primary or first
    options = options or DeployOptions()
    names = [t.name for t in targets]
    hook_runner = hooks.local_executor(first.dry_run)
    runs = [HostRun(t, new_release(t, "deploy", ref)) for t in targets]
    print_plan(first, f"deploy {ref}" + (f" to {', '.join(names)} (migrations on {primary.name})" if len(targets) > 1 else ""), deploy_plan(first, ref))
    hooks.run_hook("pre-deploy", hook_runner, first.report, first.settings.hook_timeout, hosts=names, ref=ref)

    serving: dict[str, str | None] = {}

    def check(run: HostRun) -> None:
        t = run.t
        with t.step("preflight") as step:
            seen = look(t, ref)
            state = preflight.judge(t, seen.preflight)
            step.note = f"checkout at {short(state.revision)}" if state.checkout else "first deploy: will clone"
            step.note += engine_of(t).check_host(t)
            serving[t.name] = engine_of(t).serves_already(t, seen)
        if not state.checkout:
            with t.step("clone") as step:
                source.init_checkout(t)
                step.note = "origin set from DEPLOY_REPO_URL"

    in_parallel(runs, check, "preflight")
    if not options.plan_only and all(serving.values()):
        _nothing_to_do(runs, ref, serving)
        hooks.run_hook("post-deploy", hook_runner, first.report, first.settings.hook_timeout, hosts=names, ref=ref, revision=runs[0].revision, previous=runs[0].revision, result="ok")
        return [run.release for run in runs]
    info = lock.new_lock("deploy", ref)
    cleanup = Cleanup()
    problem: BaseException | None = None
    try:
        for run in runs:
            with run.t.step("lock"):
                take_lock(run, info)
        in_parallel(runs, lambda run: begin(run, info), "observe")
        _deploy_locked(runs, ref, primary, options, hook_runner, cleanup)
        hooks.run_hook("post-deploy", hook_runner, first.report, first.settings.hook_timeout, hosts=names, ref=ref, revision=runs[0].revision, previous=runs[0].previous, result="ok")
    except PlanShown:
        for run in runs:
            run.release.result = Outcome.PLANNED
    except BaseException as caught:
        problem = caught
        for run in runs:
            if run.release.result is not Outcome.OK:
                failed(run.release, caught)
        hooks.run_hook("on-failure", hook_runner, first.report, first.settings.hook_timeout, hosts=names, ref=ref, revision=runs[0].revision, previous=runs[0].previous, result=describe(caught))
    finally:
        _close([run for run in runs if run.locked], info, cleanup, problem)
        if len(runs) > 1:
            first.report.hosts_table([(run.t.name, run.release.result, f"{short(run.previous)} -> {short(run.revision)}") for run in runs])
    problem = problem or next(iter(cleanup.late), None)
    if problem is not None:
        cleanup.raise_if_failed(after=problem)
        raise problem
    cleanup.raise_if_failed()
    return [run.release for run in runs]


def _nothing_to_do(runs: list[HostRun], ref: str, serving: dict[str, str | None]) -> None:
    """Every host runs the ref's commit as a deploy would leave it: nothing is locked,
    changed or recorded; the health gate still says whether the site answers."""
    for run in runs:
        run.revision = run.release.revision = run.release.previous = serving[run.t.name]
        run.t.skip("deploy", f"{ref} is {short(run.revision)}: same revision, images and configuration as running (nothing locked, changed or recorded)")

    def answer(run: HostRun) -> None:
        health.gate(run.t)
        run.release.result = Outcome.OK

    in_parallel(runs, answer, "health")


def _close(runs: list[HostRun], info, cleanup: Cleanup, problem: BaseException | None) -> None:
    """Record and unlock every locked host, all at once: each is tried whatever the
    others do, and a stop signal meanwhile waits until they are done."""

    def close(run: HostRun) -> None:
        finish(run, cleanup)
        unlock(run, info, cleanup, after=problem)

    if len(runs) <= 1:
        for run in runs:
            close(run)
        return
    with deferred_interrupts("record and unlock", ", ".join(run.t.name for run in runs)) as pending:
        with ThreadPoolExecutor(max_workers=len(runs)) as pool:
            list(pool.map(close, runs))
    if pending.get("interrupted"):
        cleanup.late.append(Stopped(pending.get("signum")))


def _fetch_and_build(run: HostRun, ref: str) -> None:
    t = run.t
    observed = run.view.observed
    with t.step("fetch") as step:
        fetched = source.fetch(t, ref, checkout_exists=observed.checkout is not None)
        run.revision = run.release.revision = fetched.revision
        run.journal.target(run.revision)
        step.note = (f"{ref} is {short(run.revision)}" if run.revision else ref) + (", here already: nothing fetched" if fetched.here_already else "")
    code_arrived, only_printed = True, False
    if run.revision and run.revision == observed.checkout:
        t.skip("checkout", f"{short(run.revision)} is checked out already")
    else:
        with t.step("checkout") as step:
            # Set first: a stop during the command arrives once it has run.
            run.checked_out = True
            only_printed = source.checkout(t, run.revision, ref).printed
            code_arrived = not only_printed or observed.checkout is not None
            step.note = f"{short(observed.checkout)} -> {short(run.revision)}"
    _build(run, ref, code_arrived)
    engine_of(t).announce_restart(t, run.group, as_checked_out_now=only_printed)


def _build(run: HostRun, ref: str, code_arrived: bool) -> None:
    """The build group as the checkout has it, its images built unless the revision's
    are there (proven by their label)."""
    t = run.t
    with t.step("build") as step:
        run.group = images.build_group(t, code_arrived=code_arrived)
        run.release.config = run.group.fingerprint
        found = images.release_images(t, run.group, run.revision) if run.revision else None
        if found is not None and found.complete:
            moving = found.to_move()
            if moving:
                run.tags_moved = True
                images.point_at(t, moving)
            run.target_ids = dict(found.proven)
            step.note = f"skipped: the images of {short(run.revision)} are there" + (" (tags moved to them)" if moving else "")
            return
        run.tags_moved = True
        images.build(t, run.group, run.revision or ref)
        built = images.release_images(t, run.group, run.revision) if run.revision else None
        run.target_ids = dict(built.proven) if built else {}
        step.note = ", ".join(run.group.services)


def _deploy_locked(runs: list[HostRun], ref: str, primary: Target, options: DeployOptions, hook_runner, cleanup: Cleanup) -> None:
    lead = next(run for run in runs if run.t is primary)
    try:
        in_parallel(runs, lambda run: _fetch_and_build(run, ref), "build")
        if options.plan_only:
            migrate.show_plan(primary)
            for run in runs:
                engine_of(run.t).preview_restart(run)
            raise PlanShown
        engine_of(primary).prepare(lead)
        allowed = migrations.Options(options.allow_edited_migrations, options.allow_unsafe_migrations)
        decision = migrate.before_rollout(primary, lead.release, lead.previous, lead.revision, lead.entries, lead.group.all_services, allowed)
        hosts = [run.t.name for run in runs]
        hooks.run_hook("post-migrate", hook_runner, primary.report, primary.settings.hook_timeout, hosts=hosts, ref=ref, revision=lead.revision, previous=lead.previous, result="migrated")
    except BaseException:
        # Nothing restarted yet: the old containers still serve. Put tags and code back.
        for run in runs:
            cleanup.attempt(f"revert on {run.t.name}", lambda run=run: revert(run))
        raise

    # The first host proves the release behind its health gate; the others then roll
    # out together, each without downtime.
    first, followers = runs[0], runs[1:]
    try:
        _roll_out_and_check(first)
    except BaseException as problem:
        _after_failed_first(runs, problem, cleanup)
    if followers:
        try:
            in_parallel(followers, _follow, "restart")
        except KeyboardInterrupt:
            raise
        except BaseException as problem:
            _after_failed_followers(runs, problem)
    if decision.after is not None:
        serving = f"the new release {short(lead.revision)} serves on {', '.join(run.t.name for run in runs)}"
        migrate.after_rollout(lead.t, lead.release, decision, serving)


def _roll_out_and_check(run: HostRun) -> None:
    engine_of(run.t).roll_out(run)
    health.gate(run.t)
    run.release.result = Outcome.OK
    if run.revision and run.revision != run.previous:
        prune(run)


def _follow(run: HostRun) -> None:
    """A host after the first: on failure it is rolled back at once, whatever the
    other followers do."""
    try:
        _roll_out_and_check(run)
    except BaseException as problem:
        roll_back(run, problem)
        raise


def _after_failed_followers(runs: list[HostRun], problem: BaseException) -> None:
    serving = [run.t.name for run in runs if run.release.result is Outcome.OK]
    fates = []
    for run in runs:
        if run.release.result is Outcome.ROLLED_BACK:
            fates.append(engine_of(run.t).rolled_back(run))
        elif run.release.result is not Outcome.OK:
            fates.append(f"{run.t.name} NEEDS ATTENTION: {run.release.error}")
    attention = [run.t.name for run in runs if run.release.result not in (Outcome.OK, Outcome.ROLLED_BACK)]
    todo = f"see `fab -H {attention[0]} status` and the service logs there" if attention else f"see `fab -H {runs[-1].t.name} status` and the service logs of the hosts that failed"
    raise DeployError(f"{describe(problem)}; " + "; ".join(fates) + (f"; {', '.join(serving)} run the new release" if serving else ""), todo) from None


def _after_failed_first(runs: list[HostRun], problem: BaseException, cleanup: Cleanup) -> None:
    """The first host failed: it is rolled back first, then the hosts that were waiting
    go back to their release (checkout and tags); every one is tried."""
    run = runs[0]
    if isinstance(problem, swarm.SwarmRolledBack):
        _swarm_rolled_back(run, problem)
    else:
        # On a swarm too: a stack that never converged gets the previous release's.
        roll_back(run, problem)
    later = runs[1:]
    for waiting in later:
        waiting.release.result = Outcome.NOT_RESTARTED
        waiting.release.error = f"{run.t.name} failed first: {describe(problem)}"
        cleanup.attempt(f"revert on {waiting.t.name}", lambda waiting=waiting: revert(waiting))
    t = run.t
    left = f"; {', '.join(w.t.name for w in later)} stay on the old release" if later else ""
    if run.release.result is Outcome.ROLLED_BACK:
        what = f"{describe(problem)}; {engine_of(t).rolled_back(run)}{left}"
        todo = engine_of(t).logs_todo(t)
    elif run.release.result is Outcome.NEEDS_ATTENTION:
        what = f"{run.release.error}{left}"
        todo = f"{t.name} NEEDS ATTENTION: see `fab -H {t.name} status` and the service logs there, then deploy a release that works"
    else:
        what = f"{run.release.error}{left}"
        todo = f"see `fab -H {t.name} status`"
    error = DeployError(what, todo)
    if isinstance(problem, Stopped):
        # Stopped, then put back: the exit still says it was the signal (143 for SIGTERM).
        error.exit_code = problem.exit_code
    raise error from None


def _swarm_rolled_back(run: HostRun, problem: BaseException) -> None:
    """The swarm went back to the previous spec itself: the old tasks serve. Checkout
    and image tags go back, and the site must answer."""
    revert(run)
    try:
        health.gate(run.t)
    except BaseException as second:  # noqa: BLE001 - the release log must say so
        run.release.result, run.release.error = Outcome.NEEDS_ATTENTION, f"{describe(problem)}; and the site does not answer: {describe(second)}"
        return
    run.release.result, run.release.error = Outcome.ROLLED_BACK, describe(problem)
