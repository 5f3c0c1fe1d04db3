"""What one migrate container does, and its command line: Django's plain `manage.py
migrate` when that is all it takes (the command a person would type), otherwise
composeship's migrate program (migrate_program.py) with the operations it makes safe
for the old code and the drops it runs once that code is gone."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..records import DeferredDrop
from .compose import MIGRATE_MARK, ComposeProject, lock_timeout_environment, manage_shell, migrate

PROGRAM = Path(__file__).with_name("migrate_program.py")
MARK = "COMPOSESHIP-MIGRATE "


@dataclass(frozen=True)
class KeepDefault:
    """An AddField whose default stays in the database: `expression` for a callable
    default (`now()`), None for a constant, which Django computes as it migrates."""

    migration: str
    index: int
    expression: str | None = None


@dataclass(frozen=True)
class MigrateWork:
    """`targets`: migrate up to each (app, migration); None: everything; (): nothing.
    `backwards`: reverse an app to a migration instead. The rest names operations by
    (migration, index): defaults to keep, drops to defer, deferred drops to run now,
    deferred drops that a reversal finds undone."""

    targets: tuple[tuple[str, str], ...] | None = None
    keep: tuple[KeepDefault, ...] = ()
    defer: tuple[DeferredDrop, ...] = ()
    drops: tuple[DeferredDrop, ...] = ()
    restore: tuple[DeferredDrop, ...] = ()
    backwards: tuple[tuple[str, str], ...] = ()

    @property
    def plain(self) -> tuple[str, ...] | None:
        """The arguments of the one `manage.py migrate` that does it all, or None."""
        if self.keep or self.defer or self.drops or self.restore:
            return None
        if self.backwards:
            return self.backwards[0] if len(self.backwards) == 1 and not self.targets else None
        if self.targets is None:
            return ()
        return self.targets[0] if len(self.targets) == 1 else None

    @property
    def migrates(self) -> bool:
        return self.targets is None or bool(self.targets) or bool(self.backwards)


def _pairs(drops) -> list[list]:
    return [[drop.migration, drop.operation] for drop in drops]


def program(work: MigrateWork) -> str:
    """The program for `manage.py shell -c`: migrate_program.py and its call."""
    arguments = {
        "targets": None if work.targets is None else [list(target) for target in work.targets],
        "keep": [[item.migration, item.index, item.expression] for item in work.keep],
        "defer": _pairs(work.defer),
        "drops": _pairs(work.drops),
        "restore_drops": _pairs(work.restore),
        "backwards": [list(target) for target in work.backwards],
    }
    # Lists of strings, numbers and None: repr() is the Python literal of each.
    call = ", ".join(f"{name}={value!r}" for name, value in arguments.items())
    return PROGRAM.read_text() + f"\nmain({call})\n"


def command(project: ComposeProject, work: MigrateWork, lock_timeout: str | None = None) -> list[str]:
    plain = work.plain
    if plain is not None:
        return migrate(project, *plain, noinput=True, lock_timeout=lock_timeout, marked=True)
    return manage_shell(project, program(work), environment=[*MIGRATE_MARK, *lock_timeout_environment(lock_timeout)])


def display(work: MigrateWork, service: str) -> str:
    """What the output shows of the command ("": the command itself)."""
    return "" if work.plain is not None else label(work, service)


def label(work: MigrateWork, service: str) -> str:
    """How the output shows the program's command (its text would fill the screen)."""
    parts = []
    if work.keep:
        parts.append(f"{len(work.keep)} default(s) kept")
    if work.defer:
        parts.append(f"{len(work.defer)} drop(s) deferred")
    if work.drops:
        parts.append(f"{len(work.drops)} deferred drop(s)")
    if work.restore:
        parts.append(f"{len(work.restore)} undone drop(s) left in place")
    what = "migrate" + (f" ({', '.join(parts)})" if parts else "")
    return f"{service}: manage.py shell -c <{what}>"


@dataclass(frozen=True)
class MigrateReport:
    """What the program says it did, besides Django's `Applying ... OK` lines."""

    kept: tuple[str, ...] = ()  # `notes.0002_note_pinned: notes_note.pinned DEFAULT false`
    deferred: tuple[tuple[str, int], ...] = ()
    drops: dict[tuple[str, int], str] | None = None  # (migration, index) -> dropped, gone, waiting, kept, unknown
    restored: tuple[tuple[str, int], ...] = ()

    def done(self, key: tuple[str, int]) -> bool:
        """Is the deferred drop no longer owed (dropped now, or gone already)?"""
        return (self.drops or {}).get(key) in ("dropped", "gone", "kept")


def parse(stdout: str) -> MigrateReport:
    kept, deferred, restored, drops = [], [], [], {}
    for line in stdout.splitlines():
        if not line.startswith(MARK):
            continue
        try:
            record = json.loads(line[len(MARK) :])
        except json.JSONDecodeError:
            continue
        if not isinstance(record, dict):
            continue
        key = (str(record.get("migration", "")), record.get("operation") if isinstance(record.get("operation"), int) else -1)
        kind = record.get("kind")
        if kind == "kept":
            kept.append(f"{key[0]}: {record.get('column')} DEFAULT {record.get('default')}")
        elif kind == "deferred":
            deferred.append(key)
        elif kind == "restored":
            restored.append(key)
        elif kind == "drop":
            drops[key] = str(record.get("state", ""))
    return MigrateReport(tuple(kept), tuple(deferred), drops, tuple(restored))
