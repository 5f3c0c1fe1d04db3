"""`docker compose` command lines for one compose project."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence


@dataclass(frozen=True)
class ComposeProject:
    file: str
    django_service: str = "django"
    project_name: str | None = None

    @classmethod
    def from_settings(cls, settings) -> "ComposeProject":
        return cls(settings.compose_file, settings.django_service, settings.compose_project)


def compose(project: ComposeProject, *args: str) -> list[str]:
    argv = ["docker", "compose"]
    if project.project_name:
        argv += ["-p", project.project_name]
    return argv + ["-f", project.file, *args]


def manage(project: ComposeProject, *args: str) -> list[str]:
    """manage.py in a one-off container of the django service."""
    return compose(project, "run", "--rm", project.django_service, "python", "manage.py", *args)


def makemigrations(project: ComposeProject, app: str | None = None, check: bool = False) -> list[str]:
    # --check alone still writes files on Django < 4.2; --dry-run keeps it read-only.
    return manage(project, "makemigrations", *([app] if app else []), *(["--check", "--dry-run"] if check else []))


def migrate(project: ComposeProject, app: str | None = None, target: str | None = None, noinput: bool = False) -> list[str]:
    args = [arg for arg in (app, target) if arg]
    return manage(project, "migrate", *args, *(["--noinput"] if noinput else []))


def showmigrations(project: ComposeProject, plan: bool = False) -> list[str]:
    return manage(project, "showmigrations", *(["--plan"] if plan else []))


def up(project: ComposeProject, services: Sequence[str] = (), no_deps: bool = False, no_build: bool = False) -> list[str]:
    flags = ["-d"] + (["--no-deps"] if no_deps else []) + (["--no-build"] if no_build else [])
    return compose(project, "up", *flags, *services)


def down(project: ComposeProject) -> list[str]:
    return compose(project, "down")


def restart(project: ComposeProject, services: Iterable[str] = ()) -> list[str]:
    return compose(project, "restart", *services)


def build(project: ComposeProject, services: Sequence[str] = ()) -> list[str]:
    return compose(project, "build", *services)


def logs(project: ComposeProject, services: Sequence[str] = (), follow: bool = False, since: str | None = None, tail: int | None = None) -> list[str]:
    flags = (["--follow"] if follow else []) + (["--since", since] if since else []) + (["--tail", str(tail)] if tail is not None else [])
    return compose(project, "logs", *flags, *services)


def config_services(project: ComposeProject) -> list[str]:
    return compose(project, "config", "--services")


def ps_json(project: ComposeProject, all_states: bool = True) -> list[str]:
    return compose(project, "ps", *(["--all"] if all_states else []), "--format", "json")


def config_json(project: ComposeProject) -> list[str]:
    return compose(project, "config", "--format", "json")


def up_and_wait(project: ComposeProject, service: str, timeout: int) -> list[str]:
    """Recreate one service if its image or config changed and wait until it is running
    (and healthy, where it has a healthcheck). Its dependencies are started first when
    they are not running (a first deploy), and otherwise left alone unless changed."""
    return compose(project, "up", "-d", "--no-build", "--wait", "--wait-timeout", str(timeout), service)


def exec_in(project: ComposeProject, service: str, *args: str) -> list[str]:
    return compose(project, "exec", "-T", service, *args)


def up_dry_run(project: ComposeProject) -> list[str]:
    """What `up -d` would do, without doing it: which containers it would (re)create."""
    return compose(project, "--dry-run", "up", "-d", "--no-build")
