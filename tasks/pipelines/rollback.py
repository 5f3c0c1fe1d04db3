"""`rollback`, top to bottom: preflight, lock, observe (and recover), choose the release
to go back to, plan (which migrations the undone releases applied), optionally back
up and reverse them, switch image tags and checkout, restart in order, health gate,
record, unlock. No build: a release's image is kept by its release tag, and only an
image proven to be that release's is used."""

from __future__ import annotations

from ..commands import git
from ..engine import engine_of
from ..errors import DeployError, HostError
from ..executor import Interrupted
from ..facts import migrations as migration_facts
from ..records import Outcome, Release
from ..steps import database, health, images, lock, releases
from ..steps.preflight import preflight
from ..target import Target
from .common import HostRun, new_release, reapply, roll_back, short, under_lock
from .pipeline import print_plan


def rollback_plan(t: Target, target: str, with_migrations: bool, no_backup: bool) -> list[tuple[str, str]]:
    return [
        ("plan", f"migrations applied after {short(target)}, when git shows migration files it lacks: named" + (", reversed if all are reversible" if with_migrations else ", left applied")),
        *([("backup", "--no-backup: none" if no_backup else "required before reversing: no backup, no reversal")] if with_migrations else []),
        ("switch", f"image tags and checkout to {short(target)} (no build)"),
        ("restart", engine_of(t).explain_restart(t)),
        ("health", health.explain(t, target)),
        ("record", releases.explain_record(t, target)),
        ("unlock", lock.explain_unlock(t, target)),
    ]


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


def rollback(t: Target, to: str | None, with_migrations: bool, no_backup: bool = False) -> Release:
    with t.step("preflight") as step:
        state = preflight(t, first_deploy=False)
        step.note = f"checkout at {short(state.revision)}"
    run = HostRun(t, new_release(t, "rollback", ""))
    under_lock([run], lock.new_lock("rollback", to or ""), lambda cleanup: _roll_back_to(run, to, with_migrations, no_backup), lambda problem: _undo(run, problem))
    return run.release


def _undo(run: HostRun, problem: BaseException) -> None:
    # Migrations it reversed for the target's code are applied again for the code that
    # goes on serving: that code needs them.
    reversed_any = bool(run.release.unapplied)
    if run.checked_out or run.tags_moved:
        roll_back(run, problem, reapply_migrations=reversed_any)
    elif reversed_any:
        reapply(run, problem)


def _roll_back_to(run: HostRun, to: str | None, with_migrations: bool, no_backup: bool) -> None:
    t, view, release = run.t, run.view, run.release
    if not view.serving.running or view.group is None:
        raise HostError(f"nothing runs on {t.name}: there is no release to roll back from", f"deploy first (`fab -H {t.name} deploy`)")
    current = view.serving.revision
    chosen = choose(t, list(view.observed.releases), current, to)
    target = chosen.revision
    run.revision = release.revision = target
    release.ref = chosen.ref
    run.journal.target(target)
    run.group = group = view.group
    found = images.release_images(t, group, target)
    if not found.complete:
        raise DeployError(
            f"the images of {short(target)} are no longer on {t.name} (or not proven to be that release's): {', '.join(found.missing())}",
            f"deploy it again instead (`fab -H {t.name} deploy --ref {target}`), which rebuilds them",
        )
    t.report.say(f"{t.name}: from {view.serving.describe()} back to {short(target)} (deployed {chosen.started} by {chosen.user})")
    print_plan(t, f"rollback to {short(target)}", rollback_plan(t, target, with_migrations, no_backup))
    with t.step("plan") as step:
        current_files = t.run(git.files_at(current or "HEAD"), probe=True, stream=False).stdout.split()
        target_files = t.run(git.files_at(target), probe=True, stream=False).stdout.split()
        if migration_facts.files_to_labels(current_files) <= migration_facts.files_to_labels(target_files):
            # Only a migration file that the target lacks can need reversing: git alone
            # shows there is none, without a one-off container.
            undo, app_targets = [], {}
            step.note = f"no migration file was added after {short(target)}: nothing to reverse"
        else:
            known = database.plan(t) or []
            undo, app_targets = migration_facts.undo_targets(known, current_files, target_files)
            step.note = f"{len(undo)} applied after {short(target)}" + (f": {migration_facts.summarize([m.label for m in undo])}" if undo else "")
        labels = [m.label for m in undo]
    after_deploys = releases.post_deploy_among(view.observed.releases, labels)
    if after_deploys and not with_migrations:
        t.report.say(
            f"warning: {migration_facts.summarize(after_deploys)} ran after a deploy (a column or table dropped once no old code read it: marked post-deploy, or a drop composeship deferred); "
            f"the code of {short(target)} may still read what they removed, and its requests then fail: pass --migrations to reverse them first, or deploy a fix forward instead"
        )
    if undo and not with_migrations:
        t.skip("unmigrate", f"left applied: {', '.join(labels)} (pass --migrations to reverse them)")
    elif undo:
        _unmigrate(run, labels, app_targets, no_backup)
    with t.step("switch") as step:
        run.tags_moved = True
        images.point_at(t, found.proven)
        run.checked_out = True
        t.run(git.checkout(target), stream=False)
        step.note = f"{view.serving.describe()} -> {short(target)}"
    # Decided as a deploy decides: the target's compose configuration as the checkout
    # has it now, against the one the target was deployed with (a proxy whose image
    # and configuration are the same is left alone).
    run.group = group = images.build_group(t, code_arrived=not t.dry_run)
    release.config = group.fingerprint
    engine = engine_of(t)
    engine.announce_restart(t, group, as_checked_out_now=t.dry_run)
    same_config = releases.served_config(run.entries, target) == group.fingerprint != ""
    engine.bring_to(t, group, found.proven, target, same_config=same_config)
    health.gate(t)
    release.result = Outcome.OK


def _unmigrate(run: HostRun, labels: list[str], app_targets: dict[str, str], no_backup: bool) -> None:
    t, release = run.t, run.release
    with t.step("reversible") as step:
        blocked = database.irreversible(t, labels)
        if blocked:
            named = "; ".join(f"{label} ({', '.join(ops)})" for label, ops in blocked.items())
            raise DeployError(
                f"cannot reverse the migrations: irreversible {named}",
                "roll back without --migrations (the schema stays as it is), or fix forward with a new migration",
            )
        step.note = "all reversible"
    if no_backup:
        t.skip("backup", "--no-backup: reversing without a backup")
    else:
        if not database.backup_available(t, run.group.all_services):
            raise DeployError(
                f"cannot back up the database on {t.name} (no running `{database.POSTGRES_SERVICE}` service with a `backup` command), and a rollback never reverses migrations without a backup",
                "start the postgres service (or add cookiecutter-django's maintenance commands), or pass --no-backup to reverse without one",
            )
        with t.step("backup") as step:
            release.backup = database.backup(t) or None
            step.note = release.backup or ""
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
