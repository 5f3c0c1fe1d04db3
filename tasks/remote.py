"""Server tasks, run by Fabric over SSH: `fab -H HOST deploy`, `migrate-only`, `check`
and the lock tasks. Each reads the config for HOST, opens a verified connection, runs
a pipeline of steps, and reports."""

from __future__ import annotations

from fabric import task

from . import pipeline, settings
from .cli import DRY_RUN_HELP, handle_errors
from .connection import open_connection, require_connection
from .errors import LockHeld, UsageError
from .executor import Executor, PrintingExecutor
from .report import Report
from .steps import lock as locks
from .steps.preflight import preflight
from .target import Target


def open_target(c, title: str, dry_run: bool = False) -> Target:
    """Config first (no connection for a bad config), then a verified connection."""
    connection = require_connection(c)
    name = connection.original_host
    loaded = settings.load(settings.PRODUCTION, host=name)
    open_connection(connection, loaded.connect_timeout)
    executor = (PrintingExecutor if dry_run else Executor)(connection, host=name)
    executor.defer_interrupts = True
    return Target(name, loaded, executor, Report(title, host=name, dry_run=dry_run))


def _ref(value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return settings.validate_ref(value)
    except ValueError as problem:
        raise UsageError(f"--ref {value!r} {problem}", "pass a branch, tag or commit name") from None


@task(
    help={
        "ref": "Branch, tag or commit to deploy (default: DEPLOY_REF, else main).",
        "dry_run": DRY_RUN_HELP + " Read-only probes still connect.",
    }
)
@handle_errors
def deploy(c, ref=None, dry_run=False):
    """Deploy: fetch the ref, rebuild the django image, migrate in a one-off container, restart in order, health gate."""
    chosen = _ref(ref)
    t = open_target(c, "deploy", dry_run)
    target_ref = chosen or t.settings.ref
    t.report.title = f"deploy of {target_ref} to {t.name}"
    with t.report:
        pipeline.deploy(t, target_ref)


@task(
    name="migrate-only",
    help={
        "force": "Migrate even when the checkout has migration files the current image lacks.",
        "dry_run": DRY_RUN_HELP + " Read-only probes still connect.",
    },
)
@handle_errors
def migrate_only(c, force=False, dry_run=False):
    """Migrate with the image already on the server: no pull, no rebuild, no restart."""
    t = open_target(c, f"migrate-only on {require_connection(c).original_host}", dry_run)
    with t.report:
        pipeline.migrate_only(t, force)


@task
@handle_errors
def check(c):
    """Preflight only: Docker, Compose v2, the checkout, a clean tree, free disk. Changes nothing."""
    t = open_target(c, f"check of {require_connection(c).original_host}")
    with t.report:
        with t.report.step("preflight") as step:
            state = preflight(t)
            step.note = f"deployed: {pipeline.short(state.revision)}" if state.checkout else "no checkout yet: deploy will clone DEPLOY_REPO_URL"


@task(help={"message": "Why the host is locked; shown to anyone who tries to deploy."})
@handle_errors
def lock(c, message=""):
    """Lock the host by hand, so that no deploy runs until `unlock`."""
    t = open_target(c, "lock")
    info = locks.new_lock("manual", message=message)
    locks.acquire(t, info)
    print(f"{t.name}: locked by {info.describe()}")


@task(help={"force": "Remove the lock even when someone else holds it (a deploy that died)."})
@handle_errors
def unlock(c, force=False):
    """Release a lock taken with `lock`; `--force` breaks anybody's lock."""
    t = open_target(c, "unlock")
    holder = locks.read(t)
    if holder is None:
        print(f"{t.name}: not locked")
        return
    if not force and (holder.kind != "manual" or holder.user != locks.local_user()):
        raise LockHeld(
            f"{t.name} is locked by {holder.describe()}",
            f"if that run is dead, break the lock with `fab -H {t.name} unlock --force`",
        )
    locks.release(t)
    print(f"{t.name}: unlocked (was held by {holder.describe()})")


@task(name="lock-status")
@handle_errors
def lock_status(c):
    """Show who holds the host's deploy lock, since when and why."""
    t = open_target(c, "lock-status")
    holder = locks.read(t)
    print(f"{t.name}: locked by {holder.describe()}" if holder else f"{t.name}: not locked")
