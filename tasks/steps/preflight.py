"""Is the server ready for a deploy? Read-only checks, each failing with what to fix."""

from __future__ import annotations

from dataclasses import dataclass

from ..commands import git, host
from ..errors import HostError
from ..executor import Probe
from ..facts import git as git_facts
from ..facts import host as host_facts
from ..target import Target


def explain(t: Target, ref: str) -> str:
    return "docker and compose usable, checkout clean, free disk, and whether the ref serves already: then nothing else runs (one round trip)"


@dataclass(frozen=True)
class HostState:
    checkout: bool
    # The checkout's HEAD (None: no checkout, or one without commits). Not what serves:
    # that is read from the containers once the lock is held (steps/recovery.py).
    revision: str | None


def batch(t: Target) -> dict[str, Probe]:
    """The read-only commands preflight judges, for `Executor.probe_batch`."""
    return {
        "docker": (["docker", "version", "--format", "{{.Server.Version}}"], None),
        "compose": (["docker", "compose", "version", "--short"], None),
        "git": (host.has_program("git"), None),
        "checkout": (host.is_file(f"{t.path}/.git/HEAD"), None),
        "head": (git.head(), t.path),
        "compose files": (host.are_files([f"{t.path}/{name}" for name in t.settings.compose_files]), None),
        "status": (git.status(), t.path),
        "disk": (host_facts.free_disk_mb(t.path).argv, None),
        "curl": (host.has_program("curl"), None),
    }


def preflight(t: Target, *, first_deploy: bool = True, require_clean: bool = True) -> HostState:
    """Every check in one round trip (a batch of read-only commands), then judged here."""
    return judge(t, t.executor.probe_batch(batch(t)), first_deploy=first_deploy, require_clean=require_clean)


def judge(t: Target, results, *, first_deploy: bool = True, require_clean: bool = True) -> HostState:
    """The results of `batch`, by its keys: what to fix, or the state to go on from."""
    docker, compose, git_present, checkout_test, head = results["docker"], results["compose"], results["git"], results["checkout"], results["head"]
    compose_file, status, disk, curl = results["compose files"], results["status"], results["disk"], results["curl"]
    for result in (docker, compose):
        if not result.ok:
            raise t.executor.failure(result, shown=False)
    if not git_present.ok:
        raise HostError(f"git is not installed on {t.name}", "install git on the server")

    checkout = checkout_test.ok
    revision = None
    if not checkout:
        if not (first_deploy and t.settings.repo_url):
            raise HostError(
                f"DEPLOY_PATH {t.path} on {t.name} is not a git checkout",
                "clone your project there" + (", or set DEPLOY_REPO_URL so that deploy clones it" if first_deploy else ", or run `deploy` first"),
            )
    else:
        revision = git_facts.parse_revision(head.stdout) if head.ok else None
        if revision and not compose_file.ok:
            raise HostError(
                f"compose file {t.settings.compose_file} is missing in {t.path} on {t.name}",
                "commit it to your repository, or set DEPLOY_COMPOSE_FILE to the file you use",
            )
        if not status.ok:
            raise t.executor.failure(status, shown=False)
        dirty = git_facts.parse_dirty_files(status.stdout)
        if require_clean and dirty:
            shown = ", ".join(dirty[:10]) + (f" and {len(dirty) - 10} more" if len(dirty) > 10 else "")
            raise HostError(
                f"the checkout {t.path} on {t.name} has uncommitted changes: {shown}",
                "commit them to your repository or discard them on the server; a deploy never overwrites them",
            )

    free = host_facts.parse_free_mb(disk.stdout)
    if free < t.settings.min_free_disk_mb:
        raise HostError(
            f"only {free} MiB free for {t.path} on {t.name}",
            f"free some space (e.g. `docker image prune`) or lower DEPLOY_MIN_FREE_DISK_MB (now {t.settings.min_free_disk_mb})",
        )
    if t.settings.healthcheck_url and not curl.ok:
        raise HostError(f"curl is not installed on {t.name}", "install curl: the health gate polls DEPLOY_HEALTHCHECK_URL with it")
    return HostState(checkout, revision)
