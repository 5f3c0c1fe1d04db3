"""Facts about the server itself: free disk."""

from __future__ import annotations

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
