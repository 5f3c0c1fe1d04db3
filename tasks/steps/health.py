"""The health gate: poll DEPLOY_HEALTHCHECK_URL from the server until it answers 2xx."""

from __future__ import annotations

import time

from ..commands import host
from ..target import Target


def wait_healthy(t: Target, url: str, timeout: int, interval: float = 1.0) -> tuple[bool, str]:
    """(healthy?, the last answer: an HTTP status or curl's complaint)."""
    if t.dry_run:
        t.run(host.http_status(url), cwd=None)
        return True, "dry run"
    deadline = time.monotonic() + timeout
    while True:
        result = t.run(host.http_status(url), cwd=None, probe=True, stream=False, check=False)
        answer = result.stdout.strip()
        if answer.startswith("2"):
            return True, f"HTTP {answer}"
        last = f"HTTP {answer}" if answer and answer != "000" else (result.stderr.strip().splitlines() or ["no answer"])[-1]
        if time.monotonic() >= deadline:
            return False, last
        time.sleep(interval)
