"""The migration steps of a run, acting on the decisions of steps/migrations.py: before
the rollout, the plan (when git says a migration file changed, or cannot be trusted to
say), the check against the old code, the backup and `migrate`; after it, the
migrations marked post-deploy and the drops deferred. What Django applied, the defaults
kept and the drops deferred or run go into the release, also when a step stops
half-way."""

from __future__ import annotations

from dataclasses import dataclass

from ..commands import migrate as migrate_commands
from ..commands.migrate import MigrateWork
from ..errors import CommandFailed, DeployError
from ..executor import Interrupted, describe, stopped
from ..facts import git as git_facts
from ..facts import migration_safety
from ..facts import migrations as migration_facts
from ..records import Outcome, Release, short
from ..target import Target
from . import database, migrations, releases


def explain_plan(t: Target, ref: str) -> str:
    return (
        "when a migration file changed: a one-off container of the new image lists the pending migrations and checks each against the old code; "
        "unsafe or edited applied ones refused; skipped while nothing serves"
    )


def explain_migrate(t: Target, ref: str) -> str:
    s = t.settings
    return f"run --rm {s.django_service} python manage.py migrate --noinput, lock_timeout {s.migration_lock_timeout or 'not set'}; skipped when no migration file changed"


def explain_after(t: Target, ref: str) -> str:
    return "the migrations marked to run after the deploy, once every host serves the release (none: skipped)"


@dataclass(frozen=True)
class Planned:
    """What the plan step decided (migrations.decide), which the backup and migrate
    steps act on. `looked`: the new image's migrations were looked at; `why`: why not."""

    decision: migrations.Decision
    looked: bool
    why: str
    # What a failed migration leaves, and what to do then.
    left: str
    todo: str


def plan(t: Target, previous: str | None, revision: str | None, entries: list[Release], allowed: migrations.Options, old_code_runs: bool = True) -> Planned:
    """On the primary, `previous` serving and `revision` built: the plan (when git says a
    migration file changed, or cannot be trusted to say) and the check against the old
    code, then what runs before and after the rollout. `entries`: the release log;
    `old_code_runs`: false when no host ran any container of the app as the run began."""
    back_to = f"the checkout is back at {short(previous)}" if previous else "nothing was deployed before"
    left = f"nothing was restarted: the old release keeps serving and {back_to}"
    todo = f"{left}; fix it with a new migration and deploy again"
    if not old_code_runs:
        why = migrations.NOTHING_SERVES
        t.skip("plan", why)
        t.skip("check", why)
        return Planned(migrations.with_nothing_serving(releases.owed_drops(entries)), True, why, left, todo)
    trusted = revision is not None and releases.deployed_ok(entries, previous)
    changes = []
    if previous and revision and revision != previous:
        # git failing to compare them (the serving commit is gone, say): not trusted.
        diff = t.probe(git_facts.migration_changes(previous, revision).or_else(None))
        trusted = trusted and diff is not None
        changes = diff or []
    owed = releases.owed_drops(entries)
    look = migrations.Look.of(previous, trusted, changes)
    if not look.check:
        t.skip("plan", look.why)
        return Planned(migrations.without_check(look, owed), False, look.why, left, todo)
    with t.step("plan") as step:
        report = database.check(t)
        if trusted and not any(status in ("M", "D") for status, _ in changes):
            added = sorted(f"{folder}.{name}" for folder, name in migration_facts.files_to_labels([path for _, path in changes]))
            step.note = f"{len(added)} new migration file(s) since {short(previous)}: {migration_facts.summarize(added)}"
        else:
            step.note = migration_facts.pending_note(migration_facts.pending(report.plan)) if report is not None else "unknown until the new image runs"
    if report is None:
        t.skip("check", "unknown until the new image runs")
        decision = migrations.decide(report, changes, trusted, previous, allowed, owed)
    else:
        with t.step("check") as step:
            step.note = report.summary()
            decision = migrations.decide(report, changes, trusted, previous, allowed, owed)
            for line in decision.notes:
                t.report.say(line)
            if allowed.allow_unsafe and migration_safety.refused(report):
                step.note += " (allowed: --allow-unsafe-migrations)"
    for line in decision.warnings:
        t.report.say(line)
    return Planned(decision, True, "", left, todo)


def backup_before(t: Target, release: Release, planned: Planned, services: list[str]) -> None:
    """The backup decision for what the plan found pending (`services`: the compose
    services, for where the database runs)."""
    if not planned.looked and not planned.decision.pending:
        t.skip("backup", f"nothing to migrate: {planned.why}")
        return
    backup_if_wanted(t, release, planned.decision.pending, services)


def migrate_before(t: Target, release: Release, planned: Planned) -> None:
    """The migrations that run before the rollout, with the defaults kept and the drops
    deferred that make the old code safe."""
    decision = planned.decision
    if decision.before is None:
        t.skip("migrate", decision.skipped)
    else:
        migrate(t, release, decision.before, todo=planned.todo, left=planned.left)
    if decision.waits_after:
        t.report.say(f"{t.name}: after the rollout: {migration_facts.summarize(list(decision.waits_after))} (marked to run after the deploy)")


def after_rollout(t: Target, release: Release, decision: migrations.Decision, serving: str) -> None:
    """Every host serves the new release now (`serving` says so), so no old code reads
    what these change: the migrations marked to run after the deploy, then the drops
    deferred. A failure leaves the new release serving; the next deploy runs what is
    left."""
    work, after = decision.after, decision.waits_after
    try:
        migrate(t, release, work, todo="", left=serving, step_name="post-migrate")
    except BaseException as problem:
        left = [label for label in after if label not in release.migrations] + [drop.describe() for drop in work.drops if drop not in release.dropped]
        if not left:
            raise  # stopped once they were all applied: the release is complete
        release.result = Outcome.POST_DEPLOY_FAILED
        verb = "were stopped" if stopped(problem) else "failed"
        what = f"the migrations to run after the deploy {verb} on {t.name}: {describe(problem)}; {serving}; not applied: {migration_facts.summarize(left)}"
        release.error = what
        if stopped(problem):
            raise
        raise DeployError(
            what,
            f"fix the migration that failed (it was rolled back, so it may be edited) and deploy again: the next deploy applies what is left; `fab -H {t.name} status` shows what runs",
        ) from None
    finally:
        release.post_deploy = [label for label in release.migrations if label in after]


def show_plan(t: Target) -> None:
    """`deploy --plan`: the pending migrations and what the check says of each."""
    with t.step("plan") as step:
        report = database.check(t)
        pending = migration_facts.pending(report.plan) if report else []
        step.note = f"{migration_facts.pending_note(pending)}; {report.summary()}" if report else "unknown until the new image runs"
    if pending:
        for line in migration_safety.plan_lines(report, pending):
            t.report.say(line)
        for finding in migration_safety.refused(report):
            t.report.say(f"deploy would refuse: {finding.line()} — {finding.safe_way}")


def migrate(t: Target, release: Release, work: MigrateWork, todo: str, left: str = "", step_name: str = "migrate") -> list[str]:
    """Run `work`; what Django applied, the defaults kept and the drops deferred or run
    go into the release, also when it stops half-way. Returns the labels applied."""

    def applied(output: str) -> list[str]:
        # Django's own account: right even when the plan was skipped. Each migration is
        # its own transaction, so those before a failing one stay applied.
        labels = migration_facts.parse_applied(output)
        release.migrations = release.migrations + [label for label in labels if label not in release.migrations]
        done = migrate_commands.parse(output)
        release.kept_defaults += [kept for kept in done.kept if kept.split(":")[0] in labels and kept not in release.kept_defaults]
        release.deferred += [drop for drop in work.defer if drop.key in done.deferred and drop.migration in labels and drop not in release.deferred]
        release.dropped += [drop for drop in work.drops if done.done(drop.key) and drop not in release.dropped]
        return labels

    with t.step(step_name) as step:
        try:
            result = database.migrate(t, work, todo, left)
        except Interrupted as interrupt:
            applied(interrupt.result.stdout)
            raise
        except CommandFailed as failure:
            applied(failure.stdout)
            raise
        labels = applied(result.stdout)
        if not result.printed:
            step.note = migrated_note(labels, release, work)
    return labels


def migrated_note(labels: list[str], release: Release, work: MigrateWork) -> str:
    parts = [f"{len(labels)} applied"] if work.migrates else []
    kept = [kept for kept in release.kept_defaults if kept.split(":")[0] in labels]
    parts += [f"default kept in the database: {', '.join(k.split(': ', 1)[1] for k in kept)}"] if kept else []
    deferred = [drop for drop in release.deferred if drop in work.defer]
    parts += [f"{len(deferred)} drop(s) deferred until the new release serves"] if deferred else []
    dropped = [drop for drop in release.dropped if drop in work.drops]
    parts += [f"dropped: {', '.join(drop.describe() for drop in dropped)}"] if dropped else []
    left = [drop for drop in work.drops if drop not in release.dropped]
    parts += [f"drop(s) still waiting: {', '.join(drop.describe() for drop in left)}"] if left else []
    return "; ".join(parts)


def backup_if_wanted(t: Target, release: Release, pending: list | None, compose_services: list[str]) -> None:
    wanted, why = database.backup_decision(t, pending, compose_services)
    if not wanted:
        t.skip("backup", why)
        return
    with t.step("backup") as step:
        release.backup = database.backup(t) or None
        step.note = release.backup or why
