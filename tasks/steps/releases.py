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
    backup: str | None = None
    result: str = "failed"
    error: str = ""
    seconds: float = 0.0


def record(t: Target, release: Release) -> None:
    line = json.dumps(asdict(release), sort_keys=True)
    t.run(host.append_line(t.release_log, line), cwd=None, stream=False)
