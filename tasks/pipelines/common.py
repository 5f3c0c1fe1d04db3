"""What the server pipelines share: the per-host state of a run, the lock skeleton every
pipeline runs under, running a step on several hosts at once, how a run's outcome is
decided, and the two ways back (revert before a restart, roll back after one)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Callable

from ..commands import git
from ..commands.migrate import MigrateWork
from ..engine import engine_of
from ..errors import ConnectionLost, DeployError, LockBroken
from ..executor import Interrupted, Stopped, deferred_interrupts, describe, stopped
from ..records import LockInfo, Outcome, Release, short
from ..steps import health, images, lock, recovery, releases
from ..steps.images import BuildGroup
from ..steps.journal import RunJournal
from ..steps.migrate import migrate
from ..steps.recovery import HostView, recover
from ..target import Target
from .pipeline import Step, Where


@dataclass
class HostRun:
    """One host's part of a run, from the lock to the record."""

    t: Target
    release: Release
    view: HostView | None = None
    journal: RunJournal | None = None
    group: BuildGroup | None = None  # at the target revision
    revision: str | None = None
    target_ids: dict[str, str | None] = field(default_factory=dict)
    # On a swarm: the image each of the stack's services must run for the release.
    stack_images: dict[str, str] = field(default_factory=dict)
    checked_out: bool = False
    # A dry run only printed the checkout: the checkout as it is now stands in for it.
    checkout_printed: bool = False
    tags_moved: bool = False
    locked: bool = False
    # Stopped or cut off while the lock command ran: the lock may or may not be ours.
    lock_uncertain: bool = False
    began: float = field(default_factory=time.monotonic)

    @property
    def previous(self) -> str | None:
        return self.view.serving.revision if self.view else None

    @property
    def entries(self) -> list[Release]:
        return list(self.view.observed.releases) if self.view else []


def new_release(t: Target, kind: str, ref: str) -> Release:
    return Release(kind=kind, host=t.name, user=lock.local_user(), ref=ref, started=lock.now_iso())


def begin(run: HostRun, info: LockInfo) -> None:
    """With the lock held: observe (recovering after a killed run), then start the
    journal. Every decision after this reads `run.view`."""
    t = run.t
    run.view = recover(t)
    run.release.previous = run.previous
    run.journal = RunJournal(t, info, run.release.kind, run.release.ref)
    run.journal.begin(run.view.observed, run.view.serving)


def take_lock(run: HostRun, info: LockInfo) -> None:
    """Take the host's lock. A stop signal during the command arrives once it has run,
    and a cut connection leaves its end unknown: in both the run counts as holding the
    lock, so that cleanup releases it (only if it carries this run's token)."""
    run.locked = True
    try:
        lock.acquire(run.t, info)
    except Interrupted as stop:
        run.lock_uncertain = not stop.result.ok
        raise
    except ConnectionLost:
        run.lock_uncertain = True
        raise
    except BaseException:
        run.locked = False  # refused: held by another run, or no checkout to lock
        raise


def unlock(run: HostRun, info: LockInfo, cleanup: Cleanup, after: BaseException | None = None) -> None:
    """Release the run's own lock (tried whatever went before: a failure is collected).
    After the run stopped because its lock was broken, another's lock is left alone."""

    def release():
        with run.t.step("unlock") as step:
            try:
                step.note = lock.release(run.t, info, taken_for_sure=not run.lock_uncertain)
            except LockBroken:
                if not isinstance(after, LockBroken):
                    raise
                step.note = "the lock is another run's now: left to it"

    cleanup.attempt(f"unlock on {run.t.name}", release)


# The skeleton's own steps, around a pipeline's: in the printed plan as they run.
OPENING = [Step("lock", lock.explain, where=Where.SKELETON), Step("observe", recovery.explain, where=Where.SKELETON)]
RECORD = Step("record", releases.explain_record, where=Where.SKELETON)
UNLOCK = Step("unlock", lock.explain_unlock, where=Where.SKELETON)


def under_lock(runs: list[HostRun], info: LockInfo, work: Callable[[Cleanup], None], when_failed: Callable[[BaseException], None] | None = None) -> None:
    """Runs on one host or many under their locks: lock (each in turn: every host or
    none), observe and recover (all at once), then `work`, which decides each run's
    outcome. However it ends: `when_failed` first when it failed (an undo), then each
    host's release log says how its run ended and its lock is released, every host
    tried whatever the others do; a cleanup failure is reported along with what caused
    the failure."""
    cleanup = Cleanup()
    problem: BaseException | None = None
    try:
        for run in runs:
            with run.t.step("lock"):
                take_lock(run, info)
        in_parallel(runs, lambda run: begin(run, info), "observe")
        work(cleanup)
    except BaseException as caught:
        problem = caught
        if when_failed is not None:
            when_failed(caught)
        for run in runs:
            if run.release.result is not Outcome.OK:
                failed(run.release, caught)
    finally:
        _close([run for run in runs if run.locked], info, cleanup, problem)
        if len(runs) > 1:
            runs[0].t.report.hosts_table([(run.t.name, run.release.result, f"{short(run.previous)} -> {short(run.revision)}") for run in runs])
    problem = problem or next(iter(cleanup.late), None)
    if problem is not None:
        cleanup.raise_if_failed(after=problem)
        raise problem
    cleanup.raise_if_failed()


def _close(runs: list[HostRun], info: LockInfo, cleanup: Cleanup, problem: BaseException | None) -> None:
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


def in_parallel(runs: list, work, label: str) -> None:
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
        raise Stopped(pending.get("signum"))
    if len(failures) == 1:
        raise next(iter(failures.values()))
    if failures:
        raise DeployError(f"{label} failed on {len(failures)} hosts: " + "; ".join(f"{name}: {describe(problem)}" for name, problem in failures.items()), "")


class Cleanup:
    """Cleanup that never stops half-way: every action is tried, whatever the ones
    before it did; what failed is reported together at the end."""

    def __init__(self):
        self.failures: list[str] = []
        # Stop signals that came when the work was done (the release recorded).
        self.late: list[BaseException] = []

    def attempt(self, what: str, action) -> bool:
        try:
            action()
            return True
        except BaseException as problem:  # noqa: BLE001 - collected, reported once
            self.failures.append(f"{what}: {describe(problem)}")
            return False

    def raise_if_failed(self, after: BaseException | None = None) -> None:
        if not self.failures:
            return
        text = "could not clean up: " + "; ".join(dict.fromkeys(self.failures))
        journal = "the host keeps a journal of this run: the next run on it recovers, or says what to do"
        if after is None:
            raise DeployError(text, journal)
        first = after.todo if isinstance(after, DeployError) and after.todo else ""
        raise DeployError(f"{describe(after)}; {text}", f"{first}; {journal}" if first else journal) from None


def outcome_of(problem: BaseException) -> Outcome:
    return Outcome.INTERRUPTED if stopped(problem) else Outcome.FAILED


def failed(release: Release, problem: BaseException) -> None:
    """Fill in how the run ended, unless the pipeline already decided (rolled back,
    needs attention, not restarted)."""
    if release.result in (Outcome.ROLLED_BACK, Outcome.NEEDS_ATTENTION, Outcome.NOT_RESTARTED, Outcome.POST_DEPLOY_FAILED):
        release.error = release.error or describe(problem)
        return
    release.result, release.error = outcome_of(problem), describe(problem)


def lock_lost(run: HostRun, problem: BaseException | None = None) -> bool:
    """The lock is no longer this run's (someone broke it, and another run may hold it
    now): nothing more may change on the host, an undo neither."""
    if isinstance(problem, LockBroken):
        return True
    return run.journal is not None and not lock.is_ours(run.t, run.journal.lock)


LOCK_LOST_NOTE = "the lock was broken while this run held it: nothing undone, since another run may be changing the host"


def revert(run: HostRun) -> None:
    """Before any restart: image tags and checkout back to what served."""
    t, view = run.t, run.view
    if view is None or not (run.checked_out or run.tags_moved):
        return
    if lock_lost(run):
        t.skip("revert", LOCK_LOST_NOTE)
        return
    with t.step("revert") as step:
        if view.serving.images:
            images.point_at(t, view.serving.images)
        back_to = view.serving.revision or view.observed.checkout
        if back_to:
            t.run(git.checkout(back_to), stream=False)
        step.note = f"checkout and image tags back at {short(back_to)}" if back_to else "first deploy: nothing to go back to"


def reapply(run: HostRun, problem: BaseException) -> None:
    """A rollback reversed migrations, then failed before its code served: apply them
    again for the code that serves (it needs them). What was applied goes into the
    release's migrations; a failure leaves the host needing attention."""
    release = run.release
    try:
        _migrate_again(run)
    except BaseException as second:  # noqa: BLE001 - the release log must say so
        release.result = Outcome.NEEDS_ATTENTION
        release.error = f"{describe(problem)}; it had reversed {', '.join(release.unapplied)}, and applying them again failed: {describe(second)}"


def _migrate_again(run: HostRun) -> None:
    todo = f"the code that serves needs them: run `fab -H {run.t.name} migrate-only`"
    migrate(run.t, run.release, MigrateWork(), todo, step_name="reapply")


def roll_back(run: HostRun, problem: BaseException, reapply_migrations: bool = False) -> None:
    """After a restart: restore what served, restart, and check that it answers.
    `reapply_migrations`: a rollback's reversed migrations are applied again first, for the code
    restored. Sets the release's outcome to what really happened."""
    t, view = run.t, run.view
    release = run.release
    if view is None or not view.serving.images:
        release.result, release.error = outcome_of(problem), f"{describe(problem)}; nothing served before this deploy, so there is nothing to roll back to"
        return
    back_to = view.serving.revision or view.observed.checkout
    try:
        if lock_lost(run, problem):
            t.skip("rollback", LOCK_LOST_NOTE)
            release.result, release.error = outcome_of(problem), f"{describe(problem)}; {LOCK_LOST_NOTE}"
            return
        with t.step("rollback") as step:
            images.point_at(t, view.serving.images)
            if back_to:
                t.run(git.checkout(back_to), stream=False)
            step.note = f"image tags and checkout back at {view.serving.describe()}"
        if reapply_migrations:
            _migrate_again(run)
        engine = engine_of(t)
        engine.bring_to(t, engine.group_after_checkout(t, run.group or view.group), view.serving.images, back_to or "")
        health.gate(t)
    except BaseException as second:  # noqa: BLE001 - the release log must say so
        release.result = Outcome.NEEDS_ATTENTION
        release.error = f"{describe(problem)}; the rollback to {view.serving.describe()} failed too: {describe(second)}"
        return
    release.result = Outcome.ROLLED_BACK
    release.error = describe(problem) + (f"; {', '.join(release.unapplied)} applied again" if reapply_migrations else "")


def prune(run: HostRun) -> None:
    """Keep the images of the newest DEPLOY_KEEP_RELEASES releases (this one counted)."""
    t, current = run.t, run.revision
    if not current:
        return
    entries = run.entries + [run.release]
    released = {entry.revision for entry in entries if entry.revision}
    if len(released) <= t.settings.keep_releases:
        t.skip("prune", f"{len(released)} release(s) so far, {t.settings.keep_releases} are kept")
        return
    with t.step("prune") as step:
        removed = images.prune(t, run.group, released, releases.keep_revisions(entries, current, t.settings.keep_releases))
        step.note = f"removed {len(removed)} old image tag(s)" if removed else "nothing to remove"


def finish(run: HostRun, cleanup: Cleanup) -> None:
    """Record the run (the journal goes with it); a run that never got to a revision
    (bad input) is not a release and leaves no line."""
    release = run.release
    release.seconds = round(time.monotonic() - run.began, 1)
    if release.result is not Outcome.OK and not release.step:
        release.step = next((s.name for s in run.t.report.steps if s.host == run.t.name and s.status == "failed"), "")
    if run.journal is None:
        return
    # A deploy or rollback that never got to a revision (an unknown ref, a `--to` that
    # names no release) is bad input, not a release; migrate-only works on what runs.
    worth_a_line = release.result is not Outcome.PLANNED and (release.revision is not None or release.kind not in ("deploy", "rollback"))
    if worth_a_line:
        recorded = []

        def record():
            with run.t.step("record") as step:
                run.journal.close(release)
                recorded.append(True)
                step.note = f"{release.result}, {short(release.revision)}"

        try:
            record()
        except BaseException as problem:  # noqa: BLE001 - cleanup goes on
            if recorded:
                cleanup.late.append(problem)  # a stop signal after the line was written
            else:
                cleanup.failures.append(f"record on {run.t.name}: {describe(problem)}")
    else:
        cleanup.attempt(f"journal on {run.t.name}", lambda: run.journal.close(None))
