"""`rollback`: the steps of `steps()` below, in order, under the lock: choose the
release to go back to, plan (which migrations the undone releases applied), with
--migrations check they are reversible, back up and reverse them, switch image tags
and checkout, restart, health gate. No build: a release's image is kept by its
release tag, and only an image proven to be that release's is used. A failure puts
back what served (the migrations reversed applied again for it)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..commands import git
from ..engine import engine_of
from ..errors import DeployError, HostError
from ..executor import Interrupted
from ..facts import git as git_facts
from ..facts import migrations as migration_facts
from ..records import Outcome, Release
from ..steps import database, health, images, lock, releases
from ..steps.preflight import preflight
from ..target import Target
from .common import OPENING, RECORD, UNLOCK, HostRun, new_release, reapply, roll_back, short, under_lock
from .pipeline import Step, plan_lines, print_plan, run_in_order


def choose(t: Target, entries: list[Release], current: str | None, to: str | None) -> Release:
    if to:
        chosen = releases.find_release(entries, to)
        if not chosen:
            raise DeployError(f"{to!r} is not one release of {t.name}", f"pick one from `fab -H {t.name} rollback --list`")
        if chosen.revision == current:
            raise DeployError(f"{short(current)} already serves on {t.name}", f"pick another one from `fab -H {t.name} rollback --list`")
        return chosen
    chosen = releases.previous_release(entries, current)
    if not chosen:
        raise DeployError(f"there is no earlier release of {t.name} to roll back to", f"see `fab -H {t.name} releases`; deploy a revision with `fab -H {t.name} deploy --ref REV`")
    return chosen


@dataclass
class Rollback:
    """One rollback: what was asked, and what a step leaves for the steps after it."""

    to: str | None
    with_migrations: bool
    no_backup: bool
    found: images.ReleaseImages | None = None  # the target's images, proven by label
    # The plan step's: what the undone releases applied, and each app's target.
    undo: list[str] = field(default_factory=list)
    app_targets: dict[str, str] = field(default_factory=dict)


def rollback(t: Target, to: str | None, with_migrations: bool, no_backup: bool = False) -> Release:
    job = Rollback(to, with_migrations, no_backup)
    target = short(to) if to else "the release before the one serving"
    print_plan(t, f"rollback to {target}", plan_lines(t, target, [PREFLIGHT, *OPENING, *steps(job), RECORD, UNLOCK]))
    run = HostRun(t, new_release(t, "rollback", ""))
    PREFLIGHT.apply(job, run)
    under_lock([run], lock.new_lock("rollback", to or ""), lambda cleanup: run_in_order(steps(job), job, run), lambda problem: _undo(run, problem))
    return run.release


def _undo(run: HostRun, problem: BaseException) -> None:
    # Migrations it reversed for the target's code are applied again for the code that
    # goes on serving: that code needs them.
    reversed_any = bool(run.release.unapplied)
    if run.checked_out or run.tags_moved:
        roll_back(run, problem, reapply_migrations=reversed_any)
    elif reversed_any:
        reapply(run, problem)


def _choose(job: Rollback, run: HostRun) -> None:
    t, view, release = run.t, run.view, run.release
    with t.step("choose") as step:
        if not view.serving.running or view.group is None:
            raise HostError(f"nothing runs on {t.name}: there is no release to roll back from", f"deploy first (`fab -H {t.name} deploy`)")
        chosen = choose(t, list(view.observed.releases), view.serving.revision, job.to)
        target = chosen.revision
        run.revision = release.revision = target
        release.ref = chosen.ref
        run.journal.target(target)
        run.group = view.group
        job.found = images.release_images(t, run.group, target)
        if not job.found.complete:
            raise DeployError(
                f"the images of {short(target)} are no longer on {t.name} (or not proven to be that release's): {', '.join(job.found.missing())}",
                f"deploy it again instead (`fab -H {t.name} deploy --ref {target}`), which rebuilds them",
            )
        step.note = f"from {view.serving.describe()} back to {short(target)} (deployed {chosen.started} by {chosen.user}); its images are there"


def _plan(job: Rollback, run: HostRun) -> None:
    t, view, target = run.t, run.view, run.revision
    current = view.serving.revision
    with t.step("plan") as step:
        current_files = t.probe(git_facts.files_at(current or "HEAD"))
        target_files = t.probe(git_facts.files_at(target))
        if migration_facts.files_to_labels(current_files) <= migration_facts.files_to_labels(target_files):
            # Only a migration file that the target lacks can need reversing: git alone
            # shows there is none, without a one-off container.
            step.note = f"no migration file was added after {short(target)}: nothing to reverse"
        else:
            known = database.plan(t) or []
            undo, job.app_targets = migration_facts.undo_targets(known, current_files, target_files)
            job.undo = [m.label for m in undo]
            step.note = f"{len(undo)} applied after {short(target)}" + (f": {migration_facts.summarize(job.undo)}" if undo else "")
    after_deploys = releases.post_deploy_among(view.observed.releases, job.undo)
    if after_deploys and not job.with_migrations:
        t.report.say(
            f"warning: {migration_facts.summarize(after_deploys)} ran after a deploy (a column or table dropped once no old code read it: marked post-deploy, or a drop composeship deferred); "
            f"the code of {short(target)} may still read what they removed, and its requests then fail: pass --migrations to reverse them first, or deploy a fix forward instead"
        )


def _nothing_to_reverse(job: Rollback, run: HostRun) -> str | None:
    return None if job.undo else "nothing to reverse"


def _no_backup_wanted(job: Rollback, run: HostRun) -> str | None:
    return _nothing_to_reverse(job, run) or ("--no-backup: reversing without a backup" if job.no_backup else None)


def _left_applied(job: Rollback, run: HostRun) -> str | None:
    if not job.with_migrations and job.undo:
        return f"left applied: {', '.join(job.undo)} (pass --migrations to reverse them)"
    return _nothing_to_reverse(job, run)


def _reversible(job: Rollback, run: HostRun) -> None:
    t = run.t
    with t.step("reversible") as step:
        blocked = database.irreversible(t, job.undo)
        if blocked:
            named = "; ".join(f"{label} ({', '.join(ops)})" for label, ops in blocked.items())
            raise DeployError(
                f"cannot reverse the migrations: irreversible {named}",
                "roll back without --migrations (the schema stays as it is), or fix forward with a new migration",
            )
        step.note = "all reversible"


def _backup(job: Rollback, run: HostRun) -> None:
    t, release = run.t, run.release
    if not database.backup_available(t, run.group.all_services):
        raise DeployError(
            f"cannot back up the database on {t.name} (no running `{database.POSTGRES_SERVICE}` service with a `backup` command), and a rollback never reverses migrations without a backup",
            "start the postgres service (or add cookiecutter-django's maintenance commands), or pass --no-backup to reverse without one",
        )
    with t.step("backup") as step:
        release.backup = database.backup(t) or None
        step.note = release.backup or ""


def _unmigrate(job: Rollback, run: HostRun) -> None:
    _reverse(run, job.undo, job.app_targets)


def _switch(job: Rollback, run: HostRun) -> None:
    t, view, target = run.t, run.view, run.revision
    with t.step("switch") as step:
        run.tags_moved = True
        images.point_at(t, job.found.proven)
        run.checked_out = True
        t.run(git.checkout(target), stream=False)
        step.note = f"{view.serving.describe()} -> {short(target)}"


def _restart(job: Rollback, run: HostRun) -> None:
    # Decided as a deploy decides: the target's compose configuration as the checkout
    # has it now, against the one the target was deployed with (a proxy whose image
    # and configuration are the same is left alone).
    t, target = run.t, run.revision
    run.group = group = images.build_group(t, code_arrived=not t.dry_run)
    run.release.config = group.fingerprint
    engine = engine_of(t)
    engine.announce_restart(t, group, as_checked_out_now=t.dry_run)
    same_config = releases.served_config(run.entries, target) == group.fingerprint != ""
    engine.bring_to(t, group, job.found.proven, target, same_config=same_config)


def _health(job: Rollback, run: HostRun) -> None:
    health.gate(run.t)
    run.release.result = Outcome.OK


def _preflight(job: Rollback, run: HostRun) -> None:
    t = run.t
    with t.step("preflight") as step:
        state = preflight(t, first_deploy=False)
        step.note = f"checkout at {short(state.revision)}"


PREFLIGHT = Step("preflight", lambda t, target: "docker and compose usable, checkout present and clean", _preflight)


def _explain_choose(t: Target, target: str) -> str:
    return f"{target}, from the release log; its images must be there, proven to be its own (no build)"


def _explain_plan(with_migrations: bool):
    return lambda t, target: f"migrations applied after {target}, when git shows migration files it lacks: named" + (", reversed if all are reversible" if with_migrations else ", left applied")


def _explain_backup(no_backup: bool):
    return lambda t, target: "--no-backup: none" if no_backup else "required before reversing: no backup, no reversal"


def steps(job: Rollback) -> list[Step]:
    reversal = [
        Step("reversible", lambda t, target: "every migration to reverse can be (else nothing changes)", _reversible, skip=_nothing_to_reverse),
        Step("backup", _explain_backup(job.no_backup), _backup, skip=_no_backup_wanted),
    ]
    return [
        Step("choose", _explain_choose, _choose),
        Step("plan", _explain_plan(job.with_migrations), _plan),
        *(reversal if job.with_migrations else []),
        Step("unmigrate", lambda t, target: "those migrations reversed, app by app" if job.with_migrations else "skipped: without --migrations they stay applied", _unmigrate, skip=_left_applied),
        Step("switch", lambda t, target: f"image tags and checkout to {target} (no build)", _switch),
        Step("restart", lambda t, target: engine_of(t).explain_restart(t, target), _restart),
        Step("health", health.explain, _health),
    ]


def _reverse(run: HostRun, labels: list[str], app_targets: dict[str, str]) -> None:
    t, release = run.t, run.release
    # Drops deferred until the release served and never run: what they would drop is
    # still there, and reversing their migration must not create it again.
    owed = [drop for drop in releases.owed_drops(run.entries) if drop.migration in labels]
    with t.step("unmigrate") as step:
        for app, name in app_targets.items():
            try:
                result = database.unapply(t, app, name, restore=[drop for drop in owed if drop.migration.split(".", 1)[0] == app])
            except Interrupted as stop:
                release.unapplied += migration_facts.parse_unapplied(stop.result.stdout)
                raise
            release.unapplied += migration_facts.parse_unapplied(result.stdout)
            if not result.ok:
                still = [label for label in labels if label not in release.unapplied]
                if migration_facts.lock_timed_out(result.stderr + result.stdout):
                    what, todo = database.lock_timeout_error(t, result.stdout, "", reversing=True)
                    raise DeployError(
                        f"{what}: reversed {', '.join(release.unapplied) or 'nothing'}; still applied {', '.join(still)}",
                        f"the old code was not switched in; {todo}",
                    )
                tail = (result.stderr.strip().splitlines() or result.stdout.strip().splitlines() or ["no output"])[-1]
                raise DeployError(
                    f"the reversal stopped half-way on {t.name} ({tail}): reversed {', '.join(release.unapplied) or 'nothing'}; still applied {', '.join(still)}",
                    "the old code was not switched in; restore the backup (`fab -H " + t.name + " backups`) or fix forward with a deploy",
                )
        step.note = ", ".join(f"{app} -> {name}" for app, name in app_targets.items())
