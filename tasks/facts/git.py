"""Facts about the checkout on the server."""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..commands import git
from ..errors import DeployError
from ..executor import PROBE_TIMEOUT
from ..records import short
from . import Fact

_SHA = re.compile(r"^[0-9a-f]{40}$")


def parse_revision(stdout: str) -> str:
    revision = stdout.strip()
    if not _SHA.match(revision):
        raise DeployError(f"git answered {revision!r} where a commit id was expected", "check the checkout with `git status` on the server")
    return revision


def parse_dirty_files(stdout: str) -> list[str]:
    """`git status --porcelain`: `XY path` lines -> paths."""
    return [line[3:] for line in stdout.splitlines() if len(line) > 3]


def parse_ls_remote(stdout: str, ref: str) -> str | None:
    """`git ls-remote origin REF` -> the commit REF names (a peeled tag wins)."""
    found: dict[str, str] = {}
    for line in stdout.splitlines():
        parts = line.split("\t")
        if len(parts) == 2:
            found[parts[1]] = parts[0]
    for name in (f"refs/tags/{ref}^{{}}", f"refs/heads/{ref}", f"refs/tags/{ref}", ref):
        if name in found:
            return found[name]
    return None


def parse_present(stdout: str) -> set[str]:
    """`git.ls_remote_and_presence`: the commits listed that are here already."""
    return {line.split("\t")[0] for line in stdout.splitlines() if line.endswith("\there locally")}


def parse_paths(stdout: str) -> list[str]:
    return [line.strip() for line in stdout.splitlines() if line.strip()]


def head() -> Fact[str]:
    return Fact("deployed revision", git.head(), parse_revision)


def migration_files() -> Fact[list[str]]:
    return Fact("migration files", git.migration_files(), parse_paths)


def parse_name_status(stdout: str) -> list[tuple[str, str]]:
    """`git diff --name-status`: `M\tpath` lines -> (status letter, path)."""
    found = []
    for line in stdout.splitlines():
        status, _, path = line.partition("\t")
        if status and path:
            found.append((status[0], path))
    return found


def migration_changes(previous: str, revision: str) -> Fact[list[tuple[str, str]]]:
    return Fact("migration changes", git.migration_changes(previous, revision), parse_name_status)


def files_at(revision: str) -> Fact[list[str]]:
    return Fact(f"the files of {short(revision)}", git.files_at(revision), str.split)


def resolved(ref: str) -> Fact[str | None]:
    """The commit `ref` names in this repository; None when it names none."""
    return Fact(f"what {ref} names", git.resolve(ref), parse_revision, otherwise=None)


@dataclass(frozen=True)
class RemoteRef:
    """What origin says `ref` names, and whether that commit is here already."""

    stalled: bool  # origin did not answer within git.LIST_TIMEOUT
    commit: str | None = None  # None: origin names no such branch or tag (or failed)
    here: bool = False


def remote_ref(ref: str, remote: str) -> Fact[RemoteRef]:
    def read(result) -> RemoteRef:
        if result.exited == git.TIMED_OUT:
            return RemoteRef(stalled=True)
        commit = parse_ls_remote(result.stdout, ref) if result.ok else None
        return RemoteRef(False, commit, commit is not None and commit in parse_present(result.stdout))

    # It bounds itself (LIST_TIMEOUT, then stalled); the probe's own bound comes after.
    return Fact(f"what origin names {ref}", git.ls_remote_and_presence(ref, remote), read=read, timeout=git.LIST_TIMEOUT + PROBE_TIMEOUT)


@dataclass(frozen=True)
class LocalChanges:
    """`git.migration_changes_since`: the ref compared with and git's name-status lines,
    or why there are none (`outside`: not a git work tree; `unknown`: no candidate
    names a commit)."""

    since: str = ""
    changes: tuple[tuple[str, str], ...] = ()
    outside: bool = False
    unknown: bool = False


def migration_changes_since(candidates: list[str]) -> Fact[LocalChanges]:
    def read(result) -> LocalChanges:
        if result.exited == 3:
            return LocalChanges(outside=True)
        if result.exited == 4:
            return LocalChanges(unknown=True)
        if not result.ok:
            said = (result.stderr.strip().splitlines() or ["no output"])[-1]
            raise DeployError(f"`git diff` of the migration files failed with exit code {result.exited}: {said}", "run `git status` in the project to see why")
        lines = result.stdout.splitlines()
        since = lines[0].removeprefix("since ") if lines and lines[0].startswith("since ") else "?"
        return LocalChanges(since, tuple(parse_name_status("\n".join(lines[1:]))))

    return Fact("migration files changed", git.migration_changes_since(candidates), read=read)


def files_present(revision: str, paths: list[str]) -> Fact[list[str] | None]:
    """Which of `paths` the commit has; None when the commit is not here."""
    return Fact(f"files at {short(revision)}", git.list_file(revision, *paths), parse_paths, otherwise=None)
