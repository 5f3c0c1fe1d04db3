"""The release log on the server: one JSON line per deploy, appended, never rewritten."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from ..commands import host
from ..target import Target


@dataclass
class Release:
    kind: str
    host: str
    user: str
    ref: str
    started: str
    previous: str | None = None
    revision: str | None = None
    migrations: list[str] = field(default_factory=list)
    unapplied: list[str] = field(default_factory=list)
    backup: str | None = None
    result: str = "failed"
    error: str = ""
    seconds: float = 0.0


def record(t: Target, release: Release) -> None:
    line = json.dumps(asdict(release), sort_keys=True)
    t.run(host.append_line(t.release_log, line), cwd=None, stream=False)


def read_log(t: Target) -> list[dict]:
    from ..facts import host as host_facts

    result = t.run(host.read_file(t.release_log), cwd=None, probe=True, stream=False, check=False)
    return host_facts.parse_releases(result.stdout) if result.ok else []


def _serving(entry: dict) -> bool:
    """Did this entry leave its revision serving? Deploys and rollbacks that succeeded."""
    return entry.get("kind") in ("deploy", "rollback") and entry.get("result") == "ok" and bool(entry.get("revision"))


def releases_served(entries: list[dict]) -> list[dict]:
    """Entries that put a revision into service, newest first, one per revision."""
    seen, found = set(), []
    for entry in reversed(entries):
        if _serving(entry) and entry["revision"] not in seen:
            seen.add(entry["revision"])
            found.append(entry)
    return found


def rollback_candidates(entries: list[dict], current: str | None) -> list[dict]:
    return [entry for entry in releases_served(entries) if entry["revision"] != current]


def previous_release(entries: list[dict], current: str | None) -> dict | None:
    """The release that served before `current` came in: the newest serving entry with
    another revision that is older than `current`'s newest serving entry."""
    served_current = False
    for entry in reversed(entries):
        if not _serving(entry):
            continue
        if entry["revision"] == current:
            served_current = True
        elif served_current:
            return entry
    return None


def find_release(entries: list[dict], revision_prefix: str) -> dict | None:
    matches = [entry for entry in releases_served(entries) if entry["revision"].startswith(revision_prefix)]
    return matches[0] if len({m["revision"] for m in matches}) == 1 else None


def keep_revisions(entries: list[dict], current: str | None, keep: int) -> set[str]:
    """Revisions whose images must stay: the current one and the newest `keep` releases."""
    kept = {entry["revision"] for entry in releases_served(entries)[:keep]}
    return kept | ({current} if current else set())
