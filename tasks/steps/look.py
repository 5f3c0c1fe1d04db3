"""Before the lock: one read-only round trip that preflights a host and, in the same
breath, shows whether the ref already serves there: the checkout at the commit origin
names, every service up and ready on the image its name points to, the django build
group's containers on images built from that commit, the configuration the release
log says that commit was deployed with, and no lock, journal or one-off container.
A redeploy of what runs then locks, changes and records nothing. Anything else, or
anything that cannot be read, goes the whole way, which reads the host again once the
lock is held."""

from __future__ import annotations

from dataclasses import dataclass

from ..commands import git
from ..commands.images import tagged
from ..errors import DeployError
from ..executor import Result
from ..facts import git as git_facts
from ..facts import host_state
from ..facts.host_state import Observed
from ..target import Target
from . import images, preflight, releases, services, source


@dataclass(frozen=True)
class Look:
    preflight: dict[str, Result]  # the preflight batch's results, for preflight.judge
    observed: Observed | None  # None: not readable before the first deploy, say
    resolved: str | None  # the commit origin says the ref names


def look(t: Target, ref: str) -> Look:
    checks = preflight.batch(t)
    observe = host_state.batch(t.project, t.path, t.lock_dir, t.journal_path, t.release_log)
    # What runs is read only when the ref may name the checkout: a real deploy reads it
    # again once the lock is held, so it would only cost the host's time twice.
    remote, checked, seen = t.executor.probe_batch_when((git.ls_remote_naming_head(ref), t.path), checks, observe)
    if remote.exited == git.TIMED_OUT:
        raise source.origin_stalled(t, "git ls-remote", git.LIST_TIMEOUT)
    observed = _observed(seen) if seen is not None else None
    return Look(checked, observed, git_facts.parse_ls_remote(remote.stdout, ref) if remote.ok else None)


def _observed(results: dict[str, Result]) -> Observed | None:
    try:
        return host_state.parse(results)
    except (DeployError, ValueError, KeyError):  # the locked run reads it again and says why
        return None


def settled_release(seen: Look, django: str, compose_file: str) -> tuple[str, images.BuildGroup] | None:
    """(the commit, its build group) when the checkout is the ref's commit as a deploy
    of it was recorded ok, with the configuration it was deployed with, and no lock,
    journal or one-off migration left: what both engines ask before looking at what
    runs. None otherwise."""
    observed, revision = seen.observed, seen.resolved
    if observed is None or observed.config is None or revision is None:
        return None
    if observed.lock is not None or observed.journal is not None or observed.dirty or observed.checkout != revision:
        return None
    if any(c.oneoff and c.state == "running" for c in observed.containers):
        return None
    try:
        group = images.group_of(observed.config, django, compose_file)
    except DeployError:
        return None
    entries = list(observed.releases)
    if not releases.deployed_ok(entries, revision) or releases.served_config(entries, revision) != observed.config.fingerprint:
        return None
    return revision, group


def serves_already(seen: Look, django: str, compose_file: str) -> str | None:
    """The commit, when the ref's commit already runs exactly as a deploy would leave it
    (see the module's docstring); None when a deploy has something to do or to check."""
    settled = settled_release(seen, django, compose_file)
    if settled is None:
        return None
    revision, group = settled
    observed = seen.observed
    if services.not_ready(observed.containers, group.all_services):
        return None
    for name, service in observed.config.services.items():
        mine = host_state.of_service(observed.containers, name)
        if any(tagged(service.image) not in c.image_tags for c in mine):
            return None
        if name in group.services and any(c.revision != revision for c in mine):
            return None
    return revision
