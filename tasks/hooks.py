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

# The launcher's exit code, and what it says on stderr, when it ended a hook at its timeout.
TIMED_OUT = 124
TIMED_OUT_MARK = "composeship: the hook was ended at its timeout"
# Runs the hook in a session of its own and, past the timeout, ends the whole session
# (TERM, then KILL 5 s later): a hook's children (a curl, a sleep) hold its output open,
# and ending the hook alone would leave the deploy waiting for them.
LAUNCHER = f"""
import os, signal, subprocess, sys, time
seconds, argv = float(sys.argv[1]), sys.argv[2:]
hook = subprocess.Popen(argv, start_new_session=True)
try:
    code = hook.wait(timeout=seconds)
    sys.exit(code if code >= 0 else 128 - code)
except subprocess.TimeoutExpired:
    pass
def signal_all(sig):
    try:
        os.killpg(hook.pid, sig)
        return True
    except ProcessLookupError:
        return False
signal_all(signal.SIGTERM)
deadline = time.monotonic() + 5
while signal_all(0) and time.monotonic() < deadline:
    try:
        hook.wait(timeout=0.1)
    except subprocess.TimeoutExpired:
        pass
signal_all(signal.SIGKILL)
print({TIMED_OUT_MARK!r}, file=sys.stderr)
sys.exit({TIMED_OUT})
"""


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
        launch = [sys.executable, "-c", LAUNCHER, str(timeout), str(path)]
        try:
            # Invoke's own timeout only backs the launcher's up.
            completed = executor.run(launch, env=hook_environment(name, **facts), stream=False, check=False, timeout=timeout + 15, display=str(path))
            timed_out = completed.exited == TIMED_OUT and TIMED_OUT_MARK in (completed.stderr or "")
        except CommandTimedOut as late:
            completed, timed_out = late.result, True
        if timed_out:
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
    said = "".join(line for line in (completed.stderr or "").splitlines(keepends=True) if TIMED_OUT_MARK not in line)
    for stream, text in ((sys.stdout, completed.stdout), (sys.stderr, said)):
        if text:
            print(text, end="" if text.endswith("\n") else "\n", file=stream, flush=True)
