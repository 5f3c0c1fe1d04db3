"""Migrations in production: list what is pending in a one-off container of the image,
back the database up when DEPLOY_BACKUP says so, migrate in a one-off container, and
reverse migrations for a rollback."""

from __future__ import annotations

from ..commands import compose
from ..commands import migrate as migrate_commands
from ..commands.migrate import MigrateWork
from ..engine import POSTGRES_SERVICE, engine_of
from ..errors import CommandFailed, DeployError
from ..facts import migration_safety
from ..facts import migrations as migration_facts
from ..facts.migrations import Migration
from ..target import Target


def explain_backup(t: Target, ref: str) -> str:
    return f"DEPLOY_BACKUP={t.settings.backup}"


def plan(t: Target) -> list[Migration] | None:
    """Every migration the image knows, applied or not; None when unknown (a dry run
    prints the command instead of running a container)."""
    result = t.run(compose.showmigrations(t.project, plan=True), stream=False, todo="the image cannot list its migrations; see the error above")
    return None if result.printed else migration_facts.parse_plan(result.stdout)


def check(t: Target) -> migration_safety.CheckReport | None:
    """Every migration the new image knows, applied or not, and what each pending
    operation would do to the old code still serving, from Django's migration graph in
    one one-off container; None when unknown (a dry run)."""
    result = t.run(
        compose.manage_shell(t.project, migration_safety.script()),
        stream=False,
        todo="the image could not load its migrations; see the error above",
        label=f"{t.settings.django_service}: manage.py shell -c <migration check>",
    )
    if result.printed:
        return None
    try:
        return migration_safety.parse_report(result.stdout)
    except ValueError:
        raise DeployError(
            f"the migration check in the {t.settings.django_service} image printed no report on {t.name}: {(result.stderr or result.stdout).strip()[-300:]}",
            "run `python manage.py showmigrations --plan` in that image to see why Django cannot load the migrations",
        ) from None


def in_postgres(t: Target, *args: str) -> list[str]:
    """A command in the running postgres service (where, the engine says)."""
    return engine_of(t).in_postgres(t, *args)


def backup_available(t: Target, services: list[str]) -> bool:
    return POSTGRES_SERVICE in services and t.check(in_postgres(t, "sh", "-c", "command -v backup >/dev/null"))


def backup_decision(t: Target, pending: list | None, services: list[str]) -> tuple[bool, str]:
    """(back up?, why) from DEPLOY_BACKUP, the pending migrations (None: unknown) and
    the postgres service."""
    mode = t.settings.backup
    if mode == "never":
        return False, "DEPLOY_BACKUP=never"
    if mode == "auto" and pending is not None and not pending:
        return False, "no pending migrations"  # without asking the host
    has_command = backup_available(t, services)
    if mode == "always":
        if not has_command:
            raise DeployError(
                f"DEPLOY_BACKUP=always but the {POSTGRES_SERVICE} service on {t.name} has no running `backup` command",
                "add cookiecutter-django's maintenance commands to your postgres image, or set DEPLOY_BACKUP=auto",
            )
        return True, "DEPLOY_BACKUP=always"
    if not has_command:
        return False, f"no `backup` command in a running {POSTGRES_SERVICE} {engine_of(t).postgres_where}"
    return True, f"{len(pending)} pending migration(s)" if pending is not None else "if migrations are pending"


def backup(t: Target) -> str:
    result = t.run(in_postgres(t, "backup"), todo="the database was not changed; fix the backup or set DEPLOY_BACKUP=never")
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    return lines[-1].strip() if lines else ""


def migrate(t: Target, work: MigrateWork, todo: str, left: str = ""):
    """Run `work` in a one-off container of the image: Django's `migrate` (every pending
    migration, or only up to its targets), with the defaults kept and the drops
    deferred that it names, then the deferred drops whose time has come. `left`: what a
    failure leaves (nothing restarted, what serves), for the error about a lock that
    the migration waited too long for."""
    argv = migrate_commands.command(t.project, work, lock_timeout=t.settings.migration_lock_timeout)
    display = migrate_commands.display(work, t.settings.django_service)
    try:
        return t.run(argv, todo=todo, display=display, label=display)
    except CommandFailed as failure:
        output = failure.stderr + failure.stdout
        if not migration_facts.lock_timed_out(output):
            raise
        what, advice = lock_timeout_error(t, failure.stdout, left)
        raise CommandFailed(what, advice, command=failure.command, exited=failure.exited, host=failure.host, stdout=failure.stdout, stderr=failure.stderr) from None


def lock_timeout_error(t: Target, output: str, left: str, reversing: bool = False) -> tuple[str, str]:
    """(what, what to do) when PostgreSQL cancelled a migration after lock_timeout."""
    label = migration_facts.failed_migration(output)
    limit = t.settings.migration_lock_timeout or "the server's own lock_timeout"
    subject = ("the reversal of " if reversing else "the migration ") + label if label else ("the reversal" if reversing else "the migration")
    applied = migration_facts.parse_applied(output)
    what = (
        f"{subject} waited more than {limit} for a lock that another session holds "
        f"on {t.name}'s database, and PostgreSQL cancelled it (lock_timeout) and rolled it back" + (f"; applied before it: {', '.join(applied)}" if applied else "") + (f"; {left}" if left else "")
    )
    todo = (
        "find the session holding the lock (a long query or a transaction left open: in psql, "
        "`SELECT pid, state, now() - xact_start AS open_for, query FROM pg_stat_activity WHERE state <> 'idle'`), "
        "then try again at a quieter time, or raise DEPLOY_MIGRATION_LOCK_TIMEOUT"
    )
    return what, todo


def operations(t: Target, labels: list[str]) -> dict[str, list[tuple[str, bool, str]]] | None:
    """label -> its operations (kind, reversible, description), asked of the image;
    None when unknown (a dry run)."""
    result = t.run(compose.manage(t.project, "shell", "-c", migration_facts.operations_script(labels)), stream=False, todo="the image could not load its migrations")
    return None if result.printed else migration_facts.parse_operations(result.stdout)


def irreversible(t: Target, labels: list[str]) -> dict[str, list[str]]:
    """label -> its irreversible operations, asked of Django in a one-off container."""
    report = operations(t, labels) or {}
    blocked = {label: [kind for kind, reversible, _ in ops if not reversible] for label, ops in report.items()}
    return {label: kinds for label, kinds in blocked.items() if kinds}


def unapply(t: Target, app: str, target: str, restore=()):
    """Reverse `app` to `target`. `restore`: deferred drops that never ran among what is
    reversed: what they would have dropped is still there, so it is not re-created."""
    work = MigrateWork(targets=(), backwards=((app, target),), restore=tuple(restore))
    argv = migrate_commands.command(t.project, work, lock_timeout=t.settings.migration_lock_timeout)
    display = migrate_commands.display(work, t.settings.django_service)
    return t.run(argv, check=False, display=display, label=display)
