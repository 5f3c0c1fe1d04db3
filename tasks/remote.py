"""Server tasks, run by Fabric over SSH (`fab -H HOST TASK`). Each reads the config for
its hosts, opens verified connections, runs a pipeline of steps, and reports. `deploy`,
`migrate-only`, `check`, `status` and `releases` take several hosts (`-H a,b` or
DEPLOY_HOSTS) as one run; the others run on each host in turn."""

from __future__ import annotations

import json as _json

from fabric import Connection, task

from . import overview, settings
from .cli import DRY_RUN_HELP, handle_errors, ref_option, remainder, service_names, since_option, tail_lines
from .commands import compose
from .connection import connection_count, open_connection
from .engine import engine_of
from .errors import LockHeld, UsageError
from .executor import Executor, PrintingExecutor
from .fab_executor import many_hosts
from .facts.migrations import summarize
from .pipelines.deploy import DeployOptions
from .pipelines.deploy import deploy as deploy_pipeline
from .pipelines.migrate_only import migrate_only as migrate_only_pipeline
from .pipelines.rollback import rollback as rollback_pipeline
from .pipelines.setup import setup as setup_pipeline
from .records import short
from .report import Report
from .steps import database, recovery, releases
from .steps import lock as locks
from .steps.preflight import preflight
from .target import Target

DRY_RUN_REMOTE_HELP = DRY_RUN_HELP + " Read-only probes still connect."


def host_names(c) -> list[str]:
    """The hosts of this run: the Connection Fabric made, the -H list of a many-host
    task, or DEPLOY_HOSTS."""
    if isinstance(c, Connection):
        return [c.original_host]
    named = list(getattr(c, "hosts", []) or settings.load(settings.PRODUCTION, require=False).hosts)
    if not named:
        raise UsageError(
            "no host given",
            "name the server with -H, e.g. `fab -H prod deploy` (an ssh_config alias or a host name), or set DEPLOY_HOSTS",
        )
    return named


def open_targets(c, title: str, dry_run: bool = False) -> list[Target]:
    """Config for every host first (a bad config connects nowhere), then verified
    connections; the hosts share one report."""
    names = host_names(c)
    loaded = [settings.load(settings.PRODUCTION, host=name) for name in names]
    report = Report(title, host=names[0], dry_run=dry_run)
    targets = []
    for name, config in zip(names, loaded, strict=True):
        connection = c if isinstance(c, Connection) else Connection(name, config=c.config)
        open_connection(connection, config.connect_timeout)
        executor = (PrintingExecutor if dry_run else Executor)(connection, host=name)
        executor.defer_interrupts = True
        executor.quiet = len(names) > 1
        targets.append(Target(name, config, executor, report))
    return targets


def open_target(c, title: str, dry_run: bool = False) -> Target:
    [target] = open_targets(c, title, dry_run)
    return target


def primary_of(targets: list[Target]) -> Target:
    wanted = targets[0].settings.primary
    if not wanted:
        return targets[0]
    for t in targets:
        if t.name == wanted:
            return t
    raise UsageError(f"DEPLOY_PRIMARY={wanted} is not one of the hosts of this run ({', '.join(t.name for t in targets)})", "set DEPLOY_PRIMARY to one of them, or unset it")


@task(help={"dry_run": DRY_RUN_REMOTE_HELP})
@handle_errors
def setup(c, dry_run=False):
    """First-time preparation of a server: check Docker, Compose v2 and access, create DEPLOY_PATH and clone, list what is missing."""
    t = open_target(c, "setup", dry_run)
    t.report.title = f"setup of {t.name}"
    with t.report:
        setup_pipeline(t)


@many_hosts
@task(
    help={
        "ref": "Branch, tag or commit to deploy (default: DEPLOY_REF, else main).",
        "plan": "Build, then show the pending migrations per app, marked: irreversible, code-running, unsafe or slow while the old code serves, run after the deploy; then stop, hosts put back.",
        "allow_edited_migrations": "Deploy even when a migration that is already applied was edited (normally refused).",
        "allow_unsafe_migrations": "Migrate even when a pending operation is unsafe while the old code serves (a column dropped or renamed, NOT NULL added...; normally refused).",
        "verbose": "Also print how many SSH connections and commands each host took.",
        "dry_run": DRY_RUN_REMOTE_HELP,
    }
)
@handle_errors
def deploy(c, ref=None, plan=False, allow_edited_migrations=False, allow_unsafe_migrations=False, verbose=False, dry_run=False):
    """Deploy: fetch the ref, rebuild the django image, migrate in a one-off container, roll out in order, health gate, then the migrations marked to run after the deploy."""
    chosen = ref_option("--ref", ref)
    targets = open_targets(c, "deploy", dry_run)
    target_ref = chosen or targets[0].settings.ref
    report = targets[0].report
    report.title = f"{'plan' if plan else 'deploy'} of {target_ref} to {', '.join(t.name for t in targets)}"
    options = DeployOptions(plan_only=plan, allow_edited_migrations=allow_edited_migrations, allow_unsafe_migrations=allow_unsafe_migrations)
    try:
        with report:
            deploy_pipeline(targets, target_ref, primary_of(targets), options)
    finally:
        if verbose:
            for t in targets:
                print(f"{t.name}: {connection_count(t.executor.context)} SSH connection(s), {t.executor.commands_run} commands")


@many_hosts
@task(
    name="migrate-only",
    help={
        "force": "Migrate even when the checkout has migration files the current image lacks.",
        "dry_run": DRY_RUN_REMOTE_HELP,
    },
)
@handle_errors
def migrate_only(c, force=False, dry_run=False):
    """Migrate with the image already on the server: no pull, no rebuild, no restart (on the primary of several hosts)."""
    targets = open_targets(c, "migrate-only", dry_run)
    t = primary_of(targets)
    t.report.title = f"migrate-only on {t.name}"
    with t.report:
        migrate_only_pipeline(t, force)


@many_hosts
@task
@handle_errors
def check(c):
    """Preflight only: Docker, Compose v2, the checkout, a clean tree, free disk. Changes nothing."""
    targets = open_targets(c, "check")
    report = targets[0].report
    report.title = f"check of {', '.join(t.name for t in targets)}"
    with report:
        for t in targets:
            with t.step("preflight") as step:
                state = preflight(t)
                step.note = f"checkout at {short(state.revision)}" if state.checkout else "no checkout yet: deploy will clone DEPLOY_REPO_URL"


@task(
    help={
        "to": "Roll back to this release (a revision or its first characters) instead of the previous one.",
        "list": "Only list the releases one can roll back to.",
        "migrations": "Also reverse the migrations the releases being undone applied (refused if one is irreversible), after a backup.",
        "no_backup": "With --migrations: reverse them without taking a backup first (normally a backup that succeeded is required).",
        "dry_run": DRY_RUN_REMOTE_HELP,
    }
)
@handle_errors
def rollback(c, to=None, list=False, migrations=False, no_backup=False, dry_run=False):  # noqa: A002 - the flag is --list
    """Serve the previous (or --to) release again, from its image: no rebuild; checkout moved back to match."""
    ref_option("--to", to)
    if no_backup and not migrations:
        raise UsageError("--no-backup only applies with --migrations", "drop --no-backup, or add --migrations")
    t = open_target(c, "rollback", dry_run)
    if list:
        found = recovery.view(t, recovery.observe(t))
        current = found.serving.revision
        candidates = releases.rollback_candidates([*found.observed.releases], current)
        if not candidates:
            print(f"{t.name}: no earlier release to roll back to")
            return
        print(f"{t.name}: releases to roll back to (newest first; serving now: {found.serving.describe()})")
        for entry in candidates:
            print(f"  {short(entry.revision)}  {entry.started}  {entry.user}  ref {entry.ref or '-'}" + (f"  applied {summarize(entry.migrations)}" if entry.migrations else ""))
        return
    t.report.title = f"rollback on {t.name}"
    with t.report:
        rollback_pipeline(t, to, migrations, no_backup)


@many_hosts
@task(help={"json": "Print JSON (a list with one object per host) instead of text."})
@handle_errors
def status(c, json=False):  # noqa: A002 - the flag is --json
    """Deployed revision and when, lock holder, each service's container and health, pending migrations, image disk use."""
    gathered = [overview.host_status(t) for t in open_targets(c, "status")]
    if json:
        print(_json.dumps(gathered, indent=2))
    else:
        print("\n\n".join(overview.format_status(entry) for entry in gathered))


@many_hosts
@task(name="releases", help={"json": "Print JSON (a list of release entries, each naming its host) instead of a table."})
@handle_errors
def releases_(c, json=False):  # noqa: A002 - the flag is --json
    """The release log of each host: time, user, kind, revision, result, duration, migrations."""
    logs = [(t.name, releases.read_log(t)) for t in open_targets(c, "releases")]
    if json:
        print(_json.dumps([overview.release_dict(entry) for _, entries in logs for entry in entries], indent=2))
    else:
        print("\n\n".join(overview.format_releases(name, entries) for name, entries in logs))


@task(
    help={
        "service": "Only this service, or several comma-separated (default: all).",
        "since": "Only lines since then: a duration like 10m or 2h, or a timestamp.",
        "follow": "Keep printing new lines until Ctrl-C.",
        "tail": "Only the last N lines of each service.",
    }
)
@handle_errors
def logs(c, service=None, since=None, follow=False, tail=None):
    """Show the logs of the services on the server (docker compose logs; on a swarm, docker service logs)."""
    names = service_names(service)
    lines = tail_lines(tail)
    since_option(since)
    t = open_target(c, "logs")
    engine_of(t).logs(t, names, follow, since, lines)


@task(help={"interactive": "Attach your terminal (for createsuperuser, shell, dbshell).", "dry_run": DRY_RUN_REMOTE_HELP})
@handle_errors
def manage(c, interactive=False, dry_run=False):
    """Run any manage.py command in a one-off container of the current image: fab -H prod manage -- ARGS."""
    args = remainder()
    if not args:
        raise UsageError("no manage.py command given", "put it after --, e.g. `fab -H prod manage -- showmigrations`")
    t = open_target(c, f"manage {args[0]}", dry_run)
    t.run(compose.manage(t.project, *args), interactive=interactive)


@task
@handle_errors
def backup(c):
    """Back up the database now, with the postgres service's `backup` maintenance command."""
    t = open_target(c, "backup")
    with t.report:
        with t.step("backup") as step:
            step.note = database.backup(t)


@task
@handle_errors
def backups(c):
    """List the database backups, with sizes (the postgres service's `backups` command)."""
    t = open_target(c, "backups")
    t.run(database.in_postgres(t, "backups"), todo="the postgres service needs cookiecutter-django's maintenance commands")


@task(help={"message": "Why the host is locked; shown to anyone who tries to deploy."})
@handle_errors
def lock(c, message=""):
    """Lock the host by hand, so that no deploy runs until `unlock`."""
    t = open_target(c, "lock")
    info = locks.new_lock("manual", message=message)
    locks.acquire(t, info)
    print(f"{t.name}: locked by {info.describe()}")


@task(help={"force": "Break the lock even when someone else holds it (a run that died); says what it breaks."})
@handle_errors
def unlock(c, force=False):
    """Release a lock taken with `lock`; `--force` breaks anybody's lock, naming what it breaks."""
    t = open_target(c, "unlock")
    holder = locks.read(t)
    if holder is None:
        print(f"{t.name}: not locked")
        return
    mine = holder.info is not None and holder.info.kind == "manual" and holder.info.user == locks.local_user()
    if not force and not mine:
        raise LockHeld(
            f"{t.name} is locked by {holder.describe()}",
            f"if that run is dead, break the lock with `fab -H {t.name} unlock --force`",
        )
    observed = recovery.observe(t)
    locks.break_lock(t)
    print(f"{t.name}: unlocked; broke the lock of {holder.describe()}")
    if observed.journal is not None:
        j = observed.journal
        print(f"{t.name}: that run's journal says: {j.kind} of {j.ref or short(j.target)} by {j.user}, stopped at step {j.step!r}; the next deploy, rollback or migrate-only recovers from it")
    for container in observed.running_migrations():
        print(f"{t.name}: its migrate container {container.name} is still running; nothing migrates until it has ended")


@task(name="lock-status")
@handle_errors
def lock_status(c):
    """Show who holds the host's deploy lock, since when and why, and whether that run is alive."""
    t = open_target(c, "lock-status")
    holder = locks.read(t)
    print(f"{t.name}: locked by {holder.describe()}" if holder else f"{t.name}: not locked")
