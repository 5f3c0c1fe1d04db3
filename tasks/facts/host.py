"""Facts about the server itself: free disk, the deploy lock, the release log."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from ..commands import host
from ..errors import DeployError
from . import Fact


def parse_free_mb(stdout: str) -> int:
    """`df -Pk PATH`: the second line's fourth column is the free space in KiB."""
    lines = [line for line in stdout.splitlines() if line.strip()]
    try:
        return int(lines[1].split()[3]) // 1024
    except (IndexError, ValueError):
        raise DeployError(f"could not read free disk space from df output {stdout.strip()!r}", "check `df -Pk` on the server") from None


def free_disk_mb(path: str) -> Fact[int]:
    return Fact("free disk", host.free_disk(path), parse_free_mb)


@dataclass(frozen=True)
class LockInfo:
    user: str = "?"
    kind: str = "?"
    ref: str = ""
    message: str = ""
    time: str = "?"
    epoch: int = 0

    def age(self, now: float | None = None) -> str:
        if not self.epoch:
            return "unknown age"
        seconds = int((now if now is not None else time.time()) - self.epoch)
        if seconds < 120:
            return f"{seconds}s"
        if seconds < 7200:
            return f"{seconds // 60}m"
        return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"

    def describe(self, now: float | None = None) -> str:
        text = f"{self.user} ({self.kind}"
        text += f" of {self.ref}" if self.ref else ""
        text += f", since {self.time}, {self.age(now)} ago)"
        return text + (f": {self.message}" if self.message else "")

    def lines(self) -> list[str]:
        return [f"user={self.user}", f"kind={self.kind}", f"ref={self.ref}", f"message={self.message}", f"time={self.time}", f"epoch={self.epoch}"]


def parse_lock(stdout: str) -> LockInfo:
    fields = dict(line.split("=", 1) for line in stdout.splitlines() if "=" in line)
    epoch = fields.get("epoch", "0")
    return LockInfo(
        user=fields.get("user", "?"),
        kind=fields.get("kind", "?"),
        ref=fields.get("ref", ""),
        message=fields.get("message", ""),
        time=fields.get("time", "?"),
        epoch=int(epoch) if epoch.isdigit() else 0,
    )


def parse_releases(stdout: str) -> list[dict]:
    """The release log: one JSON object per line; a torn last line is skipped."""
    entries = []
    for line in stdout.splitlines():
        try:
            entries.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return entries
