"""The code on the server: first clone, fetch, resolve the ref to an exact commit,
check it out (and back again when a later step fails)."""

from __future__ import annotations

from ..commands import git
from ..errors import DeployError, HostError
from ..facts import git as git_facts
from ..target import Target


def init_checkout(t: Target) -> None:
    """First deploy: an empty repository with origin set; fetch and checkout follow."""
    t.run(git.init(t.path), cwd=None, stream=False)
    t.run(git.add_origin(t.settings.repo_url), stream=False)


def fetch(t: Target, ref: str, *, checkout_exists: bool = True) -> str | None:
    """Fetch origin and return the commit `ref` names there. A dry run asks origin
    without fetching (and returns None when only a fetch could tell)."""
    not_found = DeployError(
        f"ref {ref!r} is not a branch, tag or commit of the repository on {t.name}",
        "push it first, or pass --ref with an existing branch, tag or commit",
    )
    if t.dry_run:
        t.run(git.fetch(), stream=False)
        remote = t.settings.repo_url if not checkout_exists else "origin"
        listed = t.run(git.ls_remote(ref, remote), cwd="" if checkout_exists else None, probe=True, stream=False, check=False)
        found = git_facts.parse_ls_remote(listed.stdout, ref) if listed.ok else None
        if found is None and checkout_exists:
            local = t.run(git.resolve(ref), probe=True, stream=False, check=False)
            found = git_facts.parse_revision(local.stdout) if local.ok else None
        if found is None and listed.ok:
            raise not_found
        return found
    t.run(git.fetch(), stream=False, todo=f"check that the server can reach origin ({t.settings.repo_url or 'git remote -v'})")
    for candidate in (f"refs/remotes/origin/{ref}", f"refs/tags/{ref}", ref):
        result = t.run(git.resolve(candidate), probe=True, stream=False, check=False)
        if result.ok:
            return git_facts.parse_revision(result.stdout)
    raise not_found


def checkout(t: Target, revision: str | None, ref: str) -> None:
    target = revision or ref
    if not t.dry_run and not t.check(git.has_file(target, t.settings.compose_file)):
        raise HostError(
            f"{t.settings.compose_file} does not exist at {ref} ({target[:12]})",
            "commit the compose file, or set DEPLOY_COMPOSE_FILE to the one your project uses",
        )
    t.run(git.checkout(target), stream=False)
