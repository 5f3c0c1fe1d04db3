"""The migration policy of a deploy, as decisions made from facts: whether the new
image's migrations need looking at at all (git says whether a migration file changed
since the serving release), what stops the deploy (an edited applied migration, an
operation that cannot be made safe for the old code), and what runs when: before the
rollout (with the defaults kept and the drops deferred that make the old code safe),
and after it (post-deploy migrations, then the deferred drops, this release's and
those an earlier run still owes)."""

from __future__ import annotations

from dataclasses import dataclass

from ..commands.migrate import MigrateWork
from ..errors import DeployError
from ..facts import migration_safety
from ..facts import migrations as migration_facts
from ..records import DeferredDrop, short


@dataclass(frozen=True)
class Look:
    """Whether to look at the new image's migrations. `trusted`: composeship put the
    serving release into service with all its migrations, so git alone can say
    whether any migration changed since (`changes`: git's name-status lines)."""

    check: bool
    why: str = ""

    @classmethod
    def of(cls, previous: str | None, trusted: bool, changes: list[tuple[str, str]]) -> "Look":
        if trusted and not changes:
            return cls(False, f"no migration file changed since {short(previous)}")
        return cls(True)


@dataclass(frozen=True)
class Options:
    allow_edited: bool = False
    allow_unsafe: bool = False


@dataclass(frozen=True)
class Decision:
    """What the migrations of a deploy do. `before`: the migrate before the rollout
    (None: skipped, `skipped` says why); `after`: what runs once every host serves the
    release (None: nothing); `waits_after`: the migrations marked to run after the
    rollout; `pending`: what the backup decision counts (None: unknown);
    `warnings` and `notes`: lines for the output."""

    before: MigrateWork | None
    after: MigrateWork | None = None
    skipped: str = ""
    waits_after: tuple[str, ...] = ()
    pending: list | None = None
    warnings: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def _owed_after(work: MigrateWork, owed: list[DeferredDrop]) -> MigrateWork | None:
    keys = {drop.key for drop in work.drops}
    drops = work.drops + tuple(drop for drop in owed if drop.key not in keys)
    work = MigrateWork(targets=work.targets, keep=work.keep, drops=drops)
    return work if work.migrates or work.drops else None


NOTHING_SERVES = "nothing serves yet: no old code for a migration to break, so migrate applies whatever is pending"


def with_nothing_serving(owed: list[DeferredDrop]) -> Decision:
    """No container of the app runs on any host (a first deploy): every pending
    migration runs before the rollout, post-deploy ones too, unchecked; what they are
    is known once they ran. Drops an earlier run deferred still run after it."""
    return Decision(before=MigrateWork(), after=_owed_after(MigrateWork(targets=()), owed), pending=None)


def without_check(look: Look, owed: list[DeferredDrop]) -> Decision:
    """No migration changed: nothing migrates; drops an earlier run deferred still run
    once the release serves."""
    return Decision(before=None, after=_owed_after(MigrateWork(targets=()), owed), skipped=look.why, pending=[drop.describe() for drop in owed])


def decide(
    report: migration_safety.CheckReport | None,
    changes: list[tuple[str, str]],
    trusted: bool,
    previous: str | None,
    options: Options,
    owed: list[DeferredDrop],
) -> Decision:
    """From the check's report (None: a dry run, which cannot know), git's changes since
    the serving release and the drops still owed: what runs, or the refusal."""
    edits = [change for change in changes if change[0] in ("M", "D")]
    warnings = []
    if edits and report is not None:
        edited = migration_facts.edited_applied(edits, report.plan)
        if edited and not options.allow_edited:
            named = ", ".join(f"{path} ({label})" for path, label in edited)
            raise DeployError(
                f"applied migrations were edited since {short(previous)}: {named}",
                "never edit an applied migration: undo the edit and write a new migration for the change (--allow-edited-migrations deploys anyway)",
            )
        if edited:
            warnings.append(f"warning: deploying edited applied migrations (--allow-edited-migrations): {', '.join(path for path, _ in edited)}")
    notes = []
    if report is not None:
        notes += [f"note: {finding.line()}" for finding in report.of(migration_safety.SLOW) + report.of(migration_safety.UNKNOWN)]
        after = report.stages.after
        made_safe = report.of(migration_safety.KEPT) + [f for f in report.of(migration_safety.DEFERRED) if f.migration not in after]
        notes += [f"{finding.migration}: {finding.description}: {migration_safety.VERDICT_TEXT[finding.verdict]} ({finding.why})" for finding in made_safe]
        stopped = migration_safety.refused(report)
        if stopped and options.allow_unsafe:
            warnings.append(f"warning: migrating unsafe operations (--allow-unsafe-migrations): {'; '.join(f.line() for f in stopped)}")
        elif stopped:
            raise DeployError(*migration_safety.refusal(stopped, report))
    if trusted and not edits and report is None:
        pending = sorted(f"{folder}.{name}" for folder, name in migration_facts.files_to_labels([path for _, path in changes]))
    else:
        pending = migration_facts.pending(report.plan) if report is not None else None
    if pending is not None:
        pending = pending + [drop.describe() for drop in owed]
    if report is None:
        return Decision(before=MigrateWork(), after=_owed_after(MigrateWork(targets=()), owed), pending=pending, warnings=tuple(warnings))
    stages, handling = report.stages, report.handling
    after_labels = set(stages.after)
    keep_before = tuple(k for k in handling.keep if k.migration not in after_labels)
    keep_after = tuple(k for k in handling.keep if k.migration in after_labels)
    before = MigrateWork(targets=stages.targets or None, keep=keep_before, defer=handling.defer)
    skipped = ""
    if stages.after and not stages.before:
        before, skipped = None, f"every pending migration runs after the rollout: {migration_facts.summarize(list(stages.after))}"
    after = MigrateWork(targets=None if stages.after else (), keep=keep_after, drops=handling.defer)
    return Decision(
        before=before,
        after=_owed_after(after, owed),
        skipped=skipped,
        waits_after=tuple(stages.after),
        pending=pending,
        warnings=tuple(warnings),
        notes=tuple(notes),
    )
