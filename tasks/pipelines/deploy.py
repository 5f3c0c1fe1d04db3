"""`deploy`: the steps of `steps()` below, in order, on one host or many.

Before the lock, every host is checked at once, and a ref that serves everywhere stops
there: nothing is locked, changed or recorded. Under the lock (common.under_lock: every
host or none) each step runs where its `Where` says: fetch and build on every host at
once, the migrations once on the primary before any restart, then the first host rolls
out behind its health gate and the others follow together. What a failure undoes
follows from where it happened: before any restart, checkout and image tags go back
and the old containers go on serving; from the restart on, the host is rolled back to
what served and checked to answer again."""

from __future__ import annotations

from dataclasses import dataclass, field

from .. import hooks
from ..engine import engine_of
from ..errors import DeployError
from ..executor import Stopped
from ..records import Outcome, Release
from ..steps import database, health, images, lock, migrate, migrations, preflight, services, source, swarm
from ..steps.look import look
from ..target import Target
from .common import OPENING, RECORD, UNLOCK, Cleanup, HostRun, describe, in_parallel, new_release, prune, revert, roll_back, short, under_lock
from .pipeline import Step, Where, groups, names, plan_lines, print_plan, run_in_order


@dataclass(frozen=True)
class DeployOptions:
    plan_only: bool = False
    allow_edited_migrations: bool = False
    allow_unsafe_migrations: bool = False


class PlanShown(Exception):
    """`deploy --plan` stops after showing the plan; the hosts are put back as they were."""


@dataclass
class Deploy:
    """One deploy across its hosts: what its steps read, and what a step leaves for the
    steps after it (per host, in each HostRun)."""

    ref: str
    options: DeployOptions
    runs: list[HostRun]
    lead: HostRun  # on the primary host: the migrations run there
    hook_runner: object
    # From preflight: hosts without a checkout yet, and the revision each host serves
    # when the ref serves there already (else None).
    no_checkout: set[str] = field(default_factory=set)
    serving: dict[str, str | None] = field(default_factory=dict)
    planned: migrate.Planned | None = None  # the plan step's decision

    def hook(self, name: str, on: Target | None = None, **facts) -> None:
        t = on or self.runs[0].t
        hooks.run_hook(name, self.hook_runner, t.report, t.settings.hook_timeout, hosts=[run.t.name for run in self.runs], ref=self.ref, **facts)


# Before the lock, every host at once.
def _preflight(job: Deploy, run: HostRun) -> None:
    t = run.t
    with t.step("preflight") as step:
        seen = look(t, job.ref)
        state = preflight.judge(t, seen.preflight)
        # A repository without a commit is a first clone stopped half-way: cloned again.
        cloning = not state.checkout or (state.revision is None and bool(t.settings.repo_url))
        step.note = "first deploy: will clone" if cloning else f"checkout at {short(state.revision)}"
        step.note += engine_of(t).check_host(t)
        job.serving[t.name] = engine_of(t).serves_already(t, seen)
    if cloning:
        job.no_checkout.add(t.name)


def _clone_needed(job: Deploy, run: HostRun) -> str | None:
    return None if run.t.name in job.no_checkout else f"{run.t.path} is a checkout already"


def _clone(job: Deploy, run: HostRun) -> None:
    t = run.t
    with t.step("clone") as step:
        source.init_checkout(t)
        step.note = "origin set from DEPLOY_REPO_URL"


CHECKS = [Step("preflight", preflight.explain, _preflight), Step("clone", source.explain_clone, _clone, skip=_clone_needed)]


# Under the lock.
def _fetch(job: Deploy, run: HostRun) -> None:
    t, observed = run.t, run.view.observed
    with t.step("fetch") as step:
        fetched = source.fetch(t, job.ref, checkout_exists=observed.checkout is not None)
        run.revision = run.release.revision = fetched.revision
        run.journal.target(run.revision)
        step.note = (f"{job.ref} is {short(run.revision)}" if run.revision else job.ref) + (", here already: nothing fetched" if fetched.here_already else "")


def _checked_out_already(job: Deploy, run: HostRun) -> str | None:
    return f"{short(run.revision)} is checked out already" if run.revision and run.revision == run.view.observed.checkout else None


def _checkout(job: Deploy, run: HostRun) -> None:
    t, observed = run.t, run.view.observed
    with t.step("checkout") as step:
        # Set first: a stop during the command arrives once it has run.
        run.checked_out = True
        run.checkout_printed = source.checkout(t, run.revision, job.ref).printed
        step.note = f"{short(observed.checkout)} -> {short(run.revision)}"


def _build(job: Deploy, run: HostRun) -> None:
    """The build group as the checkout has it, its images built unless the revision's
    are there (proven by their label); then how each service will get the release."""
    t = run.t
    # A dry run only printed the checkout: the configuration read is the one there now.
    code_arrived = not run.checkout_printed or run.view.observed.checkout is not None
    with t.step("build") as step:
        run.group = images.build_group(t, code_arrived=code_arrived)
        run.release.config = run.group.fingerprint
        step.note = _images_of_release(run)
    engine_of(t).announce_restart(t, run.group, as_checked_out_now=run.checkout_printed)


def _images_of_release(run: HostRun) -> str:
    t = run.t
    found = images.release_images(t, run.group, run.revision) if run.revision else None
    if found is not None and found.complete:
        moving = found.to_move()
        if moving:
            run.tags_moved = True
            images.point_at(t, moving)
        run.target_ids = dict(found.proven)
        return f"skipped: the images of {short(run.revision)} are there" + (" (tags moved to them)" if moving else "")
    run.tags_moved = True
    images.build(t, run.group, run.revision or run.release.ref)
    built = images.release_images(t, run.group, run.revision) if run.revision else None
    run.target_ids = dict(built.proven) if built else {}
    return ", ".join(run.group.services)


def _plan(job: Deploy, run: HostRun) -> None:
    allowed = migrations.Options(job.options.allow_edited_migrations, job.options.allow_unsafe_migrations)
    # Any host's view unknown (a dry run may not have read one) counts as old code running.
    old_code_runs = any(other.view is None or other.view.serving.running for other in job.runs)
    job.planned = migrate.plan(run.t, run.previous, run.revision, run.entries, allowed, old_code_runs)


def _backup(job: Deploy, run: HostRun) -> None:
    migrate.backup_before(run.t, run.release, job.planned, run.group.all_services)


def _migrate(job: Deploy, run: HostRun) -> None:
    migrate.migrate_before(run.t, run.release, job.planned)
    job.hook("post-migrate", on=run.t, revision=run.revision, previous=run.previous, result="migrated")


def _restart(job: Deploy, run: HostRun) -> None:
    engine_of(run.t).roll_out(run)


def _health(job: Deploy, run: HostRun) -> None:
    health.gate(run.t)
    run.release.result = Outcome.OK


def _no_release_added(job: Deploy, run: HostRun) -> str | None:
    return "the revision served already: no release was added" if not run.revision or run.revision == run.previous else None


def _prune(job: Deploy, run: HostRun) -> None:
    prune(run)


def _nothing_after(job: Deploy, run: HostRun) -> str | None:
    decision = job.planned.decision if job.planned else None
    return "no migration is marked to run after the deploy, and no drop waits" if decision is None or decision.after is None else None


def _post_migrate(job: Deploy, run: HostRun) -> None:
    serving = f"the new release {short(run.revision)} serves on {', '.join(r.t.name for r in job.runs)}"
    migrate.after_rollout(run.t, run.release, job.planned.decision, serving)


def _show_plan(job: Deploy, run: HostRun) -> None:
    migrate.show_plan(run.t)


def _preview_restart(job: Deploy, run: HostRun) -> None:
    engine_of(run.t).preview_restart(run)


FETCH_AND_BUILD = [
    Step("fetch", source.explain_fetch, _fetch),
    Step("checkout", source.explain_checkout, _checkout, skip=_checked_out_already),
    Step("build", images.explain_build, _build),
]


def steps(t: Target, options: DeployOptions) -> list[Step]:
    """The deploy under the lock, in order (`t`: the first host, whose engine decides)."""
    if options.plan_only:
        return [*FETCH_AND_BUILD, Step("plan", migrate.explain_plan, _show_plan, Where.PRIMARY), Step("restart plan", services.explain_preview, _preview_restart)]
    engine = engine_of(t)
    return [
        *FETCH_AND_BUILD,
        *engine.steps_before_migrate(t),
        Step("plan", migrate.explain_plan, _plan, Where.PRIMARY),
        Step("backup", database.explain_backup, _backup, Where.PRIMARY),
        Step("migrate", migrate.explain_migrate, _migrate, Where.PRIMARY),
        Step("restart", engine.explain_restart, _restart, Where.ROLLOUT),
        Step("health", health.explain, _health, Where.ROLLOUT),
        Step("prune", images.explain_prune, _prune, Where.ROLLOUT, skip=_no_release_added),
        Step("post-migrate", migrate.explain_after, _post_migrate, Where.ONCE_SERVED, skip=_nothing_after),
    ]


def whole_plan(t: Target, options: DeployOptions) -> list[Step]:
    # `--plan` leaves no line in the release log: it changed nothing.
    return [*CHECKS, *OPENING, *steps(t, options), *([UNLOCK] if options.plan_only else [RECORD, UNLOCK])]


def deploy(targets: list[Target], ref: str, primary: Target | None = None, options: DeployOptions | None = None) -> list[Release]:
    first = targets[0]
    primary = primary or first
    options = options or DeployOptions()
    names = [t.name for t in targets]
    runs = [HostRun(t, new_release(t, "deploy", ref)) for t in targets]
    job = Deploy(ref, options, runs, next(run for run in runs if run.t is primary), hooks.local_executor(first.dry_run))
    title = f"deploy {ref}" + (" --plan" if options.plan_only else "") + (f" to {', '.join(names)} (migrations on {primary.name})" if len(targets) > 1 else "")
    print_plan(first, title, plan_lines(first, ref, whole_plan(first, options)))
    job.hook("pre-deploy")
    for _, group in groups(CHECKS):
        _on_every_host(job, group)
    if not options.plan_only and all(job.serving.values()):
        _nothing_to_do(job)
        job.hook("post-deploy", revision=runs[0].revision, previous=runs[0].revision, result="ok")
        return [run.release for run in runs]

    def work(cleanup: Cleanup) -> None:
        try:
            _under_lock(job, steps(first, options), cleanup)
        except PlanShown:
            for run in runs:
                run.release.result = Outcome.PLANNED
            return
        job.hook("post-deploy", revision=runs[0].revision, previous=runs[0].previous, result="ok")

    def when_failed(problem: BaseException) -> None:
        job.hook("on-failure", revision=runs[0].revision, previous=runs[0].previous, result=describe(problem))

    under_lock(runs, lock.new_lock("deploy", ref), work, when_failed)
    return [run.release for run in runs]


def _under_lock(job: Deploy, pipeline: list[Step], cleanup: Cleanup) -> None:
    """Each group of steps where its `Where` says. A failure before the rollout puts
    every host's checkout and tags back (nothing restarted yet: the old containers
    still serve); `deploy --plan` stops at the end of its steps the same way."""
    grouped = groups(pipeline)
    before = [(where, group) for where, group in grouped if where in (Where.EVERY_HOST, Where.PRIMARY)]
    try:
        for where, group in before:
            if where is Where.EVERY_HOST:
                _on_every_host(job, group)
            else:
                _apply(job, job.lead, group)
        if job.options.plan_only:
            raise PlanShown
    except BaseException:
        for run in job.runs:
            cleanup.attempt(f"revert on {run.t.name}", lambda run=run: revert(run))
        raise
    for where, group in grouped[len(before) :]:
        if where is Where.ROLLOUT:
            _roll_out(job, group, cleanup)
        else:
            _apply(job, job.lead, group)


def _on_every_host(job: Deploy, group: list[Step]) -> None:
    in_parallel(job.runs, lambda run: _apply(job, run, group), names(group))


def _apply(job: Deploy, run: HostRun, group: list[Step]) -> None:
    run_in_order(group, job, run)


def _roll_out(job: Deploy, group: list[Step], cleanup: Cleanup) -> None:
    """The first host proves the release behind its health gate; the others then roll
    out together, each without downtime, and each rolled back alone when it fails."""
    runs = job.runs
    first, followers = runs[0], runs[1:]
    try:
        _apply(job, first, group)
    except BaseException as problem:
        _after_failed_first(runs, problem, cleanup)

    def follow(run: HostRun) -> None:
        try:
            _apply(job, run, group)
        except BaseException as problem:
            roll_back(run, problem)
            raise

    if followers:
        try:
            in_parallel(followers, follow, names(group))
        except KeyboardInterrupt:
            raise
        except BaseException as problem:
            _after_failed_followers(runs, problem)


def _nothing_to_do(job: Deploy) -> None:
    """Every host runs the ref's commit as a deploy would leave it: nothing is locked,
    changed or recorded; the health gate still says whether the site answers."""
    for run in job.runs:
        run.revision = run.release.revision = run.release.previous = job.serving[run.t.name]
        run.t.skip("deploy", f"{job.ref} is {short(run.revision)}: same revision, images and configuration as running (nothing locked, changed or recorded)")

    def answer(run: HostRun) -> None:
        health.gate(run.t)
        run.release.result = Outcome.OK

    in_parallel(job.runs, answer, "health")


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
