"""Facts about the server itself: free disk, ports in use."""

from __future__ import annotations

import re

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


LISTEN = "0A"


def parse_listening_ports(stdout: str) -> set[int]:
    """`/proc/net/tcp` and `/proc/net/tcp6`: the local ports of sockets in state LISTEN
    (0A); an address is `HEXIP:HEXPORT`."""
    ports = set()
    for line in stdout.splitlines():
        fields = line.split()
        if len(fields) < 4 or not fields[0].endswith(":") or fields[3] != LISTEN:
            continue
        try:
            ports.add(int(fields[1].rsplit(":", 1)[1], 16))
        except (IndexError, ValueError):
            continue
    return ports


def listening_ports() -> Fact[set[int]]:
    return Fact("listening ports", host.listening_sockets(), parse_listening_ports)


_PUBLISHED = re.compile(r"(?:[0-9.]+|\[?[0-9a-f:]*\]?):(?P<first>[0-9]+)(?:-(?P<last>[0-9]+))?->")


def parse_published(stdout: str) -> dict[int, list[tuple[str, str]]]:
    """`docker ps --format PUBLISHED_FORMAT`: host port -> (compose project, container
    name) of each running container publishing it."""
    found: dict[int, list[tuple[str, str]]] = {}
    for line in stdout.splitlines():
        project, name, ports = (line.split("\t") + ["", "", ""])[:3]
        for match in _PUBLISHED.finditer(ports):
            first, last = int(match["first"]), int(match["last"] or match["first"])
            for port in range(first, last + 1):
                entry = (project, name)
                if entry not in found.setdefault(port, []):
                    found[port].append(entry)
    return found


def published_by_containers() -> Fact[dict[int, list[tuple[str, str]]]]:
    return Fact("published ports", host.published_by_containers(), parse_published)
