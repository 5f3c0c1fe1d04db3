"""Hooks: executable files in `<config dir>/hooks/` run on this machine around a deploy,
with the deploy's facts in DEPLOY_* variables, through a local executor: a dry run's
printing executor shows them and runs none. A failing `pre-deploy` stops the deploy
before anything changes on any host; the other hooks only warn. A hook runs for at most
DEPLOY_HOOK_TIMEOUT seconds (post-migrate runs while every host is locked)."""

from __future__ import annotations

import os
import sys
from typing import Mapping

from invoke import Context
from invoke.exceptions import CommandTimedOut

from . import settings
from .errors import DeployError
from .executor import Executor, PrintingExecutor

NAMES = ("pre-deploy", "post-migrate", "post-deploy", "on-failure")


def hook_path(name: str, environ: Mapping[str, str] | None = None):
    return settings.config_dir(environ) / "hooks" / name


def hook_environment(name: str, hosts: list[str], ref: str, revision: str | None = None, previous: str | None = None, result: str = "") -> dict[str, str]:
    return {
        "DEPLOY_HOOK": name,
        "DEPLOY_HOSTS": ",".join(hosts),
        "DEPLOY_REF": ref,
        "DEPLOY_REVISION": revision or "",
        "DEPLOY_PREVIOUS_REVISION": previous or "",
        "DEPLOY_RESULT": result,
    }


def local_executor(dry_run: bool) -> Executor:
    context = Context()
    context.config.run.in_stream = False
    return (PrintingExecutor if dry_run else Executor)(context, host="local")


def run_hook(name: str, executor: Executor, report, timeout: int, **facts) -> bool:
    """Run hook `name` if it exists; True when it ran and succeeded (or does not exist).
    Past `timeout` seconds it is killed and counts as failed."""
    path = hook_path(name)
    if not path.exists():
        return True
    if not os.access(path, os.X_OK):
        raise DeployError(f"hook {path} is not executable", f"chmod +x {path}, or remove it")
    with report.step(f"hook {name}", host="local") as step:
        try:
            completed = executor.run([str(path)], env=hook_environment(name, **facts), stream=False, check=False, timeout=timeout)
        except CommandTimedOut as timed_out:
            completed = timed_out.result
            _show(completed)
            if name == "pre-deploy":
                raise DeployError(
                    f"the pre-deploy hook {path} was still running after {timeout}s (DEPLOY_HOOK_TIMEOUT) and was killed",
                    "nothing was changed on any host; find what it waits for, or raise DEPLOY_HOOK_TIMEOUT",
                ) from None
            step.status = "failed"
            step.note = f"killed after {timeout}s (DEPLOY_HOOK_TIMEOUT; ignored: only pre-deploy can stop a deploy)"
            return False
        _show(completed)
        if completed.exited != 0:
            if name == "pre-deploy":
                raise DeployError(f"the pre-deploy hook {path} failed with exit code {completed.exited}", "nothing was changed on any host; fix the hook's complaint and deploy again")
            step.status = "failed"
            step.note = f"exit code {completed.exited} (ignored: only pre-deploy can stop a deploy)"
            return False
    return True


def _show(completed) -> None:
    for stream, text in ((sys.stdout, completed.stdout), (sys.stderr, completed.stderr)):
        if text:
            print(text, end="" if text.endswith("\n") else "\n", file=stream, flush=True)
