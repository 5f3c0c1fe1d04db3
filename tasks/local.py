"""`inv local.*`: the local half of the workflow, against the compose file of the
project in DEPLOY_PROJECT_DIR. The code is mounted into the containers, so nothing is
rebuilt: makemigrations and migrate run in one-off containers of the django service."""

from __future__ import annotations

import re
import sys

from invoke import task

from . import applied_migrations, settings
from .cli import DRY_RUN_HELP, handle_errors, remainder, service_names, tail_lines
from .commands import compose
from .commands.compose import ComposeProject
from .errors import ConfigError, DeployError, UsageError
from .executor import Executor, PrintingExecutor
from .facts import compose as compose_facts
from .facts import git as git_facts
from .facts import host_state, migration_safety, probe
from .facts import migrations as migration_facts
from .report import Report

APP_LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MIGRATION_NAME = re.compile(r"^[A-Za-z0-9_]+$")


class LocalStack:
    """Settings, executor and report for one local task run. Everything here is checked
    before the first command runs."""

    def __init__(self, c, title: str, dry_run: bool):
        self.settings = settings.load(settings.LOCAL)
        self.project = ComposeProject.from_settings(self.settings)
        self.cwd = str(self.settings.project_dir)
        missing = [self.settings.project_dir / name for name in self.settings.compose_files if not (self.settings.project_dir / name).is_file()]
        compose_path = missing[0] if missing else None
        if compose_path:
            raise ConfigError(
                f"compose file {compose_path} does not exist",
                "create it, or set DEPLOY_COMPOSE_FILE (relative to DEPLOY_PROJECT_DIR) to your compose file",
            )
        self.executor = (PrintingExecutor if dry_run else Executor)(c, host="local")
        self.report = Report(title, host="local", dry_run=dry_run)
        self._services: list[str] | None = None

    def run(self, argv, **options):
        return self.executor.run(argv, cwd=self.cwd, **options)

    def services(self) -> list[str]:
        if self._services is None:
            self._services = probe(self.executor, compose_facts.services(self.project), cwd=self.cwd)
        return self._services

    def require_services(self, names: list[str]) -> list[str]:
        known = self.services()
        for name in names:
            if name not in known:
                raise UsageError(
                    f"service {name!r} is not in {self.settings.compose_file}",
                    f"use one of: {', '.join(known)}",
                )
        return names

    def running(self, service: str) -> bool:
        found = probe(self.executor, host_state.containers(self.project), cwd=self.cwd)
        return any(c.service == service and c.state == "running" and not c.oneoff for c in found)

    def restart(self, services: list[str]) -> None:
        for service in services:
            with self.report.step(f"restart {service}") as step:
                if not self.running(service):
                    step.status = "skipped"
                    step.note = "not running; start the stack with `inv local.up`"
                    continue
                self.run(compose.restart(self.project, [service]))


def _app_label(app: str | None) -> str | None:
    if app is not None and not APP_LABEL.fullmatch(app):
        raise UsageError(f"--app {app!r} is not a Django app label", "use the label, e.g. --app notes")
    return app


def _migrate(stack: LocalStack, app: str | None = None, target: str | None = None) -> None:
    """migrate, warning first about applied migrations edited since they were applied,
    and remembering afterwards what it applied."""
    project_dir = stack.settings.project_dir
    for path, label, when in applied_migrations.edited(project_dir):
        print(
            f"warning: {path} changed since {label} was applied here ({when}); Django will not run it again, here or in production: undo the edit and write a new migration for the change",
            file=sys.stderr,
        )
    result = stack.run(compose.migrate(stack.project, app, target))
    if not stack.executor.dry_run:
        applied_migrations.remember(project_dir, migration_facts.parse_applied(result.stdout))


def _makemigrations(stack: LocalStack, app: str | None, check: bool) -> None:
    todo = "run `inv local.makemigrations` to write the missing migrations" if check else ""
    stack.run(compose.makemigrations(stack.project, app, check), todo=todo)


@task(
    help={
        "app": "Only this app (its label, e.g. notes).",
        "check": "Write nothing; fail when models have changes without a migration (for CI).",
        "dry_run": DRY_RUN_HELP,
    }
)
@handle_errors
def makemigrations(c, app=None, check=False, dry_run=False):
    """Create migrations for model changes, in a one-off django container."""
    stack = LocalStack(c, "local.makemigrations", dry_run)
    _app_label(app)
    with stack.report:
        with stack.report.step("makemigrations"):
            _makemigrations(stack, app, check)


@task(
    help={
        "app": "Only this app (its label, e.g. notes).",
        "target": "Migrate --app to this migration (name, or `zero` to unapply all); needs --app.",
        "dry_run": DRY_RUN_HELP,
    }
)
@handle_errors
def migrate(c, app=None, target=None, dry_run=False):
    """Apply migrations to the local database, in a one-off django container."""
    stack = LocalStack(c, "local.migrate", dry_run)
    _app_label(app)
    if target is not None:
        if app is None:
            raise UsageError("--target needs --app", "name the app too, e.g. --app notes --target 0001_initial")
        if not MIGRATION_NAME.fullmatch(target):
            raise UsageError(f"--target {target!r} is not a migration name", "use a name like 0002_note_body, or zero")
    with stack.report:
        with stack.report.step("migrate"):
            _migrate(stack, app, target)


@task(
    help={
        "against": "The git ref the servers run: check the migrations added since it (default: origin/DEPLOY_REF, else HEAD; the work tree's uncommitted and untracked files count).",
        "allow_unsafe": "Report unsafe operations without failing.",
        "dry_run": DRY_RUN_HELP,
    }
)
@handle_errors
def check_migrations(c, against=None, allow_unsafe=False, dry_run=False):
    """Check the migrations the deployed code lacks as `fab deploy` will: say what it does with each, fail on one it refuses (for CI)."""
    stack = LocalStack(c, "local.check-migrations", dry_run)
    if against is not None:
        try:
            settings.validate_ref(against)
        except ValueError as problem:
            raise UsageError(f"--against {against!r} {problem}", "name a branch, tag or commit, e.g. --against origin/main") from None
    with stack.report:
        since, new, edited = _added_since(stack, against)
        with stack.report.step("check") as step:
            argv = compose.manage_shell(stack.project, migration_safety.script(new if since else None))
            result = stack.run(argv, stream=False, label="manage.py shell -c <migration check>", display=f"{stack.settings.django_service}: manage.py shell -c <migration check>")
            if result.printed:
                return
            report = migration_safety.parse_report(result.stdout)
            pending = migration_facts.pending(report.plan)
            scope = f"since {since}" if since else "what the local database lacks"
            step.note = f"{scope}: {migration_facts.pending_note(pending)}; {report.summary()}"
        for line in migration_safety.plan_lines(report, pending):
            stack.report.say(line)
        if edited:
            named = ", ".join(edited)
            raise DeployError(
                f"migration files that {since} has were edited: {named}; `fab deploy` refuses them where they are applied",
                "never edit an applied migration: undo the edit and write a new migration for the change",
            )
        stopped = migration_safety.refused(report, allow_unsafe)
        if stopped:
            raise DeployError(*migration_safety.refusal(stopped, report, consequence=""))


def _added_since(stack: LocalStack, against: str | None) -> tuple[str, list[str], list[str]]:
    """(the ref compared with, the labels of the migration files added since it, the
    files edited since it); ("", [], []) outside a git work tree, where the check falls
    back to what the local database lacks."""
    candidates = [against] if against else [f"origin/{stack.settings.ref}", "HEAD"]
    with stack.report.step("since") as step:
        found = probe(stack.executor, git_facts.migration_changes_since(candidates), cwd=stack.cwd)
        if found.outside and against is None:
            step.note = f"{stack.settings.project_dir} is not in a git work tree: checking what the local database lacks"
            return "", [], []
        if found.outside:
            raise UsageError(f"{stack.settings.project_dir} is not in a git work tree, so --against {against} means nothing there", "run it in a git checkout of the project, or leave --against out")
        if found.unknown:
            raise UsageError(f"{' nor '.join(candidates)} names no commit in {stack.settings.project_dir}", "fetch first (`git fetch origin`), or name a ref with --against")
        since, changes = found.since, found.changes
        new = sorted(f"{folder}.{name}" for folder, name in migration_facts.files_to_labels([path for status, path in changes if status == "A"]))
        edited = sorted(path for status, path in changes if status in ("M", "D") and migration_facts.files_to_labels([path]))
        step.note = f"{since}: {len(new)} new migration file(s)" + (f" ({migration_facts.summarize(new)})" if new else "") + (f", {len(edited)} edited" if edited else "")
    return since, new, edited


@task(help={"dry_run": DRY_RUN_HELP})
@handle_errors
def showmigrations(c, dry_run=False):
    """List every migration and whether the local database has it, then count the pending ones."""
    stack = LocalStack(c, "local.showmigrations", dry_run)
    with stack.report:
        with stack.report.step("showmigrations") as step:
            result = stack.run(compose.showmigrations(stack.project))
            if not result.printed:
                step.note = migration_facts.pending_note(migration_facts.pending(migration_facts.parse_list(result.stdout)))


@task(
    help={
        "service": "Service(s) to restart, comma-separated (default: the django service).",
        "dry_run": DRY_RUN_HELP,
    }
)
@handle_errors
def restart(c, service=None, dry_run=False):
    """Restart running services of the local stack (default: django)."""
    stack = LocalStack(c, "local.restart", dry_run)
    services = stack.require_services(service_names(service) or [stack.settings.django_service])
    with stack.report:
        stack.restart(services)


@task(
    help={
        "app": "Only this app (its label).",
        "dry_run": DRY_RUN_HELP,
    }
)
@handle_errors
def update(c, app=None, dry_run=False):
    """The whole local loop after a model change: makemigrations, migrate, restart django."""
    stack = LocalStack(c, "local.update", dry_run)
    _app_label(app)
    with stack.report:
        with stack.report.step("makemigrations"):
            _makemigrations(stack, app, check=False)
        with stack.report.step("migrate"):
            _migrate(stack, app)
        stack.restart([stack.settings.django_service])


@task(
    help={
        "service": "Only these services, comma-separated (default: all).",
        "build": "Rebuild the images first.",
        "dry_run": DRY_RUN_HELP,
    }
)
@handle_errors
def up(c, service=None, build=False, dry_run=False):
    """Start the local stack in the background (builds images that are missing)."""
    stack = LocalStack(c, "local.up", dry_run)
    services = stack.require_services(service_names(service))
    with stack.report:
        if build:
            with stack.report.step("build"):
                stack.run(compose.build(stack.project, services))
        with stack.report.step("up"):
            stack.run(compose.up(stack.project, services))


@task(help={"dry_run": DRY_RUN_HELP})
@handle_errors
def down(c, dry_run=False):
    """Stop and remove the local containers; volumes (the database) are kept."""
    stack = LocalStack(c, "local.down", dry_run)
    with stack.report:
        with stack.report.step("down"):
            stack.run(compose.down(stack.project))


@task(
    help={
        "service": "Only these services, comma-separated (default: all).",
        "follow": "Keep printing new log lines until Ctrl-C.",
        "tail": "Only the last N lines of each service.",
        "dry_run": DRY_RUN_HELP,
    }
)
@handle_errors
def logs(c, service=None, follow=False, tail=None, dry_run=False):
    """Show the logs of the local stack."""
    stack = LocalStack(c, "local.logs", dry_run)
    services = stack.require_services(service_names(service))
    stack.run(compose.logs(stack.project, services, follow=follow, tail=tail_lines(tail)))


@task(help={"dry_run": DRY_RUN_HELP})
@handle_errors
def manage(c, dry_run=False):
    """Run any manage.py command in a one-off django container: inv local.manage -- ARGS."""
    args = remainder()
    if not args:
        raise UsageError("no manage.py command given", "put it after --, e.g. `inv local.manage -- showmigrations notes`")
    stack = LocalStack(c, "local.manage", dry_run)
    with stack.report:
        with stack.report.step(f"manage {args[0]}"):
            stack.run(compose.manage(stack.project, *args), interactive=True)
