"""The code on the server: first clone, fetch, resolve the ref to an exact commit,
check it out (and back again when a later step fails)."""

from __future__ import annotations

from dataclasses import dataclass

from ..commands import git
from ..errors import DeployError, HostError
from ..facts import git as git_facts
from ..records import short
from ..target import Target


def explain_clone(t: Target, ref: str) -> str:
    return f"only when {t.path} is no checkout yet: an empty repository there, origin set from DEPLOY_REPO_URL"


def explain_fetch(t: Target, ref: str) -> str:
    return f"resolve {ref} on origin to a commit, fetched unless it is here already"


def explain_checkout(t: Target, ref: str) -> str:
    return "that commit checked out, unless it is already"


def init_checkout(t: Target) -> None:
    """First deploy: an empty repository with origin set; fetch and checkout follow."""
    t.run(git.init(t.path), cwd=None, stream=False)
    t.run(git.add_origin(t.settings.repo_url), stream=False)


@dataclass(frozen=True)
class Fetched:
    revision: str | None  # None: not known without a fetch that a dry run only printed
    # The commit was in the repository already, so nothing was fetched.
    here_already: bool = False


def origin_stalled(t: Target, command: str, seconds: int) -> HostError:
    return HostError(
        f"origin did not answer `{command}` on {t.name} within {seconds}s: it stalled (a hung git server, or a link that went dead)",
        f"nothing was changed; check that {t.name} reaches origin (`git ls-remote origin` in {t.path} there), then run this again",
    )


def fetch(t: Target, ref: str, *, checkout_exists: bool = True) -> Fetched:
    """Ask origin what `ref` names (a branch or tag) and fetch unless that commit is
    here already. A commit id is looked up after the fetch."""
    remote = "origin" if checkout_exists else t.settings.repo_url
    listed = t.probe(git_facts.remote_ref(ref, remote), cwd="" if checkout_exists else None)
    if listed.stalled:
        raise origin_stalled(t, "git ls-remote", git.LIST_TIMEOUT)
    found = listed.commit
    if found and checkout_exists and listed.here:
        return Fetched(found, here_already=True)
    fetched = t.run(git.fetch(), stream=False, check=False)
    if fetched.exited == git.TIMED_OUT:
        raise origin_stalled(t, "git fetch", git.FETCH_TIMEOUT)
    if not fetched.ok:
        raise t.executor.failure(fetched, shown=False, todo="check that the server can reach origin (`git remote -v` in DEPLOY_PATH)")
    if found:
        return Fetched(found)
    local = t.probe(git_facts.resolved(ref))
    if local:
        return Fetched(local)
    if fetched.printed:
        return Fetched(None)
    raise DeployError(
        f"ref {ref!r} is not a branch, tag or commit of the repository on {t.name}",
        "push it first, or pass --ref with an existing branch, tag or commit",
    )


def checkout(t: Target, revision: str | None, ref: str):
    target = revision or ref
    # Exit 0 with no output: the commit is there and lacks the file. Any other failure:
    # the commit is not on the host (a dry run does not fetch), and checkout will tell.
    files = t.settings.compose_files
    present = t.probe(git_facts.files_present(target, files))
    missing = [name for name in files if name not in (present or [])]
    if present is not None and missing:
        raise HostError(
            f"{', '.join(missing)} does not exist at {ref} ({short(target)})",
            "commit the compose file, or set DEPLOY_COMPOSE_FILE to the one your project uses",
        )
    return t.run(git.checkout(target), stream=False)
