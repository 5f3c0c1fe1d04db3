"""Facts about the checkout on the server."""

from __future__ import annotations

import re

from ..commands import git
from ..errors import DeployError
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
