"""Migration state as Django reports it (`showmigrations` and `showmigrations --plan`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..commands import compose as cmd
from ..commands.compose import ComposeProject
from ..errors import UnreadableOutput
from . import Fact, reads

_PLAN_LINE = re.compile(r"^\[(?P<mark>[X ])\]\s+(?P<app>[\w]+)\.(?P<name>[\w]+)")
_LIST_APP = re.compile(r"^(?P<app>\w+)$")
_LIST_LINE = re.compile(r"^\s+\[(?P<mark>[X ])\]\s+(?P<name>\w+)")


@dataclass(frozen=True)
class Migration:
    app: str
    name: str
    applied: bool

    @property
    def label(self) -> str:
        return f"{self.app}.{self.name}"


def parse_plan(stdout: str) -> list[Migration]:
    """`showmigrations --plan`: `[X]  app.0001_initial` lines in apply order."""
    found = []
    for line in stdout.splitlines():
        match = _PLAN_LINE.match(line.strip())
        if match:
            found.append(Migration(match["app"], match["name"], match["mark"] == "X"))
    return found


def parse_list(stdout: str) -> list[Migration]:
    """`showmigrations`: an app label line, then ` [X] 0001_initial` lines under it."""
    found, app = [], None
    for line in stdout.splitlines():
        heading = _LIST_APP.match(line)
        if heading:
            app = heading["app"]
            continue
        entry = _LIST_LINE.match(line)
        if entry and app:
            found.append(Migration(app, entry["name"], entry["mark"] == "X"))
    return found


def summarize(labels: list[str], shown: int = 3) -> str:
    """`a, b, c and 12 more`: a list of migration labels that fits on a line."""
    return ", ".join(labels[:shown]) + (f" and {len(labels) - shown} more" if len(labels) > shown else "")


def pending_note(waiting: list[Migration], shown: int = 3) -> str:
    """`2 pending: notes.0002_a, notes.0003_b`, for a step's note."""
    labels = [m.label for m in waiting]
    return f"{len(labels)} pending" + (f": {summarize(labels, shown)}" if labels else "")


def pending(migrations: list[Migration]) -> list[Migration]:
    return [m for m in migrations if not m.applied]


def plan(project: ComposeProject) -> Fact[list[Migration]]:
    return Fact("migration plan", cmd.showmigrations(project, plan=True), parse_plan)


def stale_migrations(checkout_files: list[str], image_plan: list[Migration]) -> list[str]:
    """Migration files in the checkout that the image does not know: the image is older
    than the code, and migrating with it would miss them. A file is matched by its app
    folder and name; an app folder Django does not know by that label (a custom
    AppConfig.label) is matched by name alone."""
    known = {(m.app, m.name) for m in image_plan}
    labels = {m.app for m in image_plan}
    names = {m.name for m in image_plan}
    stale = []
    for path in checkout_files:
        parts = path.split("/")
        if len(parts) < 2 or parts[-2] != "migrations" or parts[-1] == "__init__.py" or not parts[-1].endswith(".py"):
            continue
        name = parts[-1][:-3]
        app = parts[-3] if len(parts) >= 3 else ""
        if (app, name) in known or (app not in labels and name in names):
            continue
        stale.append(path)
    return stale


def files_to_labels(paths: list[str]) -> set[tuple[str, str]]:
    """Migration file paths -> (app folder, migration name)."""
    found = set()
    for path in paths:
        parts = path.split("/")
        if len(parts) >= 3 and parts[-2] == "migrations" and parts[-1].endswith(".py") and parts[-1] != "__init__.py":
            found.add((parts[-3], parts[-1][:-3]))
    return found


def undo_targets(plan: list[Migration], current_files: list[str], target_files: list[str]) -> tuple[list[Migration], dict[str, str]]:
    """To go back from the current checkout to a revision whose files are
    `target_files`: the applied migrations whose files the target lacks (in apply
    order), and for each app concerned the migration to migrate back to (`zero` when
    none of the app's remain). Apps without files in the checkout (Django's own,
    third-party) are never touched. A file is matched by app folder and name; an app
    whose label is not its folder's name is matched by migration name."""
    current, target = files_to_labels(current_files), files_to_labels(target_files)
    removed = current - target
    names_in = {}
    for folder, name in current:
        names_in.setdefault(folder, set()).add(name)
    labels = {m.app for m in plan}

    def folder_of(app: str) -> str | None:
        if app in names_in:
            return app
        known = {m.name for m in plan if m.app == app}
        matches = [folder for folder, names in names_in.items() if folder not in labels and known <= names]
        return matches[0] if len(matches) == 1 else None

    def removed_by_rollback(m: Migration) -> bool:
        return (folder_of(m.app), m.name) in removed

    undo = [m for m in plan if m.applied and removed_by_rollback(m)]
    targets = {}
    for app in dict.fromkeys(m.app for m in undo):
        kept = [m.name for m in plan if m.app == app and not removed_by_rollback(m)]
        targets[app] = kept[-1] if kept else "zero"
    return undo, targets


_APPLIED_LINE = re.compile(r"Applying (?P<app>\w+)\.(?P<name>\w+)\.\.\. OK")


def parse_applied(migrate_output: str) -> list[str]:
    """Labels that `migrate` reports as applied (`Applying notes.0002_x... OK`)."""
    return [f"{m['app']}.{m['name']}" for m in _APPLIED_LINE.finditer(migrate_output)]


_APPLYING = re.compile(r"(?P<verb>Applying|Unapplying) (?P<app>\w+)\.(?P<name>\w+)\.\.\.(?P<ok> OK)?")
_LOCK_TIMEOUT = re.compile(r"canceling statement due to lock timeout|\block timeout\b", re.IGNORECASE)


def lock_timed_out(output: str) -> bool:
    """PostgreSQL cancelled a statement that waited longer than lock_timeout."""
    return bool(_LOCK_TIMEOUT.search(output))


def failed_migration(migrate_output: str) -> str | None:
    """The migration `migrate` was applying (or unapplying) when it failed: the last one
    it started without reporting OK."""
    started = list(_APPLYING.finditer(migrate_output))
    if started and not started[-1]["ok"]:
        return f"{started[-1]['app']}.{started[-1]['name']}"
    return None


_UNAPPLIED_LINE = re.compile(r"Unapplying (?P<app>\w+)\.(?P<name>\w+)\.\.\. OK")


def parse_unapplied(migrate_output: str) -> list[str]:
    """Labels that a backwards `migrate` reports as reversed (`Unapplying notes.0002_x... OK`)."""
    return [f"{m['app']}.{m['name']}" for m in _UNAPPLIED_LINE.finditer(migrate_output)]


def edited_applied(changes: list[tuple[str, str]], plan: list[Migration]) -> list[tuple[str, str]]:
    """(file, label) of migration files modified or deleted although their migration is
    applied: an applied migration must never change; a new migration fixes it."""
    applied = {(m.app, m.name): m.label for m in plan if m.applied}
    names = {}
    for (_app, name), label in applied.items():
        names.setdefault(name, []).append(label)
    found = []
    for status, path in changes:
        if status not in ("M", "D"):
            continue
        [(folder, name)] = files_to_labels([path]) or [("", "")]
        label = applied.get((folder, name)) or (names[name][0] if len(names.get(name, [])) == 1 else None)
        if label:
            found.append((path, label))
    return found


OPERATIONS_REPORT = """
import json
from django.db import connection
from django.db.migrations.loader import MigrationLoader
loader = MigrationLoader(connection)
report = {}
for label in LABELS:
    app, name = label.split(".", 1)
    migration = loader.get_migration(app, name)
    report[label] = [[type(op).__name__, bool(op.reversible), op.describe()] for op in migration.operations]
print("OPERATIONS " + json.dumps(report))
"""


def operations_script(labels: list[str]) -> str:
    import json

    return f"LABELS = {json.dumps(labels)}\n{OPERATIONS_REPORT}"


@reads("the migrations' operations report", "run `python manage.py showmigrations` in the django image to see why Django cannot load the migrations")
def parse_operations(stdout: str) -> dict[str, list[tuple[str, bool, str]]]:
    import json

    for line in stdout.splitlines():
        if line.startswith("OPERATIONS "):
            return {label: [tuple(op) for op in ops] for label, ops in json.loads(line[len("OPERATIONS ") :]).items()}
    raise UnreadableOutput("the migrations' operations report is missing from the output", "run `python manage.py showmigrations` in the django image to see why Django cannot load the migrations")


def format_plan(pending: list[Migration], operations: dict[str, list[tuple[str, bool, str]]], verdict=None) -> list[str]:
    """Pending migrations per app, each operation marked: irreversible, the
    RunPython/RunSQL ones (code that Django cannot check), and what `verdict(label,
    description)` adds (unsafe or slow while the old code serves)."""
    lines = []
    for app in dict.fromkeys(m.app for m in pending):
        lines.append(f"{app}:")
        for m in (m for m in pending if m.app == app):
            lines.append(f"  {m.name}")
            for kind, reversible, description in operations.get(m.label, []):
                marks = ("" if reversible else " [irreversible]") + (" [runs code]" if kind in ("RunPython", "RunSQL") else "")
                lines.append(f"    - {description}{marks}{verdict(m.label, description) if verdict else ''}")
    return lines
