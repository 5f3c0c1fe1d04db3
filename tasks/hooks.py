"""Hooks: executable files in `<config dir>/hooks/` run on this machine around a deploy,
with the deploy's facts in DEPLOY_* variables. A failing `pre-deploy` stops the
deploy before anything changes on any host; the other hooks only warn."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Mapping

from . import settings
from .errors import DeployError

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


def run_hook(name: str, report, **facts) -> bool:
    """Run hook `name` if it exists; True when it ran and succeeded (or does not exist)."""
    path = hook_path(name)
    if not path.exists():
        return True
    if not os.access(path, os.X_OK):
        raise DeployError(f"hook {path} is not executable", f"chmod +x {path}, or remove it")
    with report.step(f"hook {name}", host="local") as step:
        completed = subprocess.run([str(path)], env={**os.environ, **hook_environment(name, **facts)}, stdin=subprocess.DEVNULL)
        sys.stdout.flush()
        if completed.returncode != 0:
            if name == "pre-deploy":
                raise DeployError(f"the pre-deploy hook {path} failed with exit code {completed.returncode}", "nothing was changed on any host; fix the hook's complaint and deploy again")
            step.status = "failed"
            step.note = f"exit code {completed.returncode} (ignored: only pre-deploy can stop a deploy)"
            return False
    return True
