"""Is the server ready for a deploy? Read-only checks, each failing with what to fix."""

from __future__ import annotations

from dataclasses import dataclass

from ..commands import git, host
from ..errors import HostError
from ..facts import git as git_facts
from ..facts import host as host_facts
from ..target import Target


@dataclass(frozen=True)
class HostState:
    checkout: bool
    revision: str | None  # None: no checkout, or one without commits


def preflight(t: Target, *, first_deploy: bool = True, require_clean: bool = True) -> HostState:
    t.run(["docker", "version", "--format", "{{.Server.Version}}"], cwd=None, probe=True, stream=False)
    t.run(["docker", "compose", "version", "--short"], cwd=None, probe=True, stream=False)
    if not t.check(host.has_program("git"), cwd=None):
        raise HostError(f"git is not installed on {t.name}", "install git on the server")

    checkout = t.check(host.is_file(f"{t.path}/.git/HEAD"), cwd=None)
    revision = None
    if not checkout:
        if not (first_deploy and t.settings.repo_url):
            raise HostError(
                f"DEPLOY_PATH {t.path} on {t.name} is not a git checkout",
                "clone your project there" + (", or set DEPLOY_REPO_URL so that deploy clones it" if first_deploy else ", or run `deploy` first"),
            )
    else:
        head = t.run(git.head(), probe=True, stream=False, check=False)
        revision = git_facts.parse_revision(head.stdout) if head.ok else None
        if revision and not t.check(host.is_file(f"{t.path}/{t.settings.compose_file}"), cwd=None):
            raise HostError(
                f"compose file {t.settings.compose_file} is missing in {t.path} on {t.name}",
                "commit it to your repository, or set DEPLOY_COMPOSE_FILE to the file you use",
            )
        if require_clean:
            dirty = t.probe(git_facts.dirty_files())
            if dirty:
                shown = ", ".join(dirty[:10]) + (f" and {len(dirty) - 10} more" if len(dirty) > 10 else "")
                raise HostError(
                    f"the checkout {t.path} on {t.name} has uncommitted changes: {shown}",
                    "commit them to your repository or discard them on the server; a deploy never overwrites them",
                )

    free = t.probe(host_facts.free_disk_mb(t.path), cwd=None)
    if free < t.settings.min_free_disk_mb:
        raise HostError(
            f"only {free} MiB free for {t.path} on {t.name}",
            f"free some space (e.g. `docker image prune`) or lower DEPLOY_MIN_FREE_DISK_MB (now {t.settings.min_free_disk_mb})",
        )
    if t.settings.healthcheck_url and not t.check(host.has_program("curl"), cwd=None):
        raise HostError(f"curl is not installed on {t.name}", "install curl: the health gate polls DEPLOY_HEALTHCHECK_URL with it")
    return HostState(checkout, revision)
