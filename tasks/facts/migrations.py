"""Migration state as Django reports it (`showmigrations` and `showmigrations --plan`)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..commands import compose as cmd
from ..commands.compose import ComposeProject
from . import Fact

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
