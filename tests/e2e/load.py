"""Steady clients for the zero-downtime checks: each sends one request after another
to the same URL (a new connection each, as browsers behind a proxy mostly do) and
records when it was sent, the status and the body, or the error. A client that POSTs
writes through the running code (the example's `POST /notes/` inserts a row)."""

from __future__ import annotations

import http.client
import re
import threading
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Answer:
    sent: float
    status: int  # 0: no HTTP answer at all
    body: str


@dataclass
class Load:
    url: str
    clients: int = 4
    # A pause between one client's requests, so that the load is steady, not a flood:
    # each client sends some 25 requests a second (a request takes about 3 ms of CPU
    # through the proxy, gunicorn and postgres), five clients at once about 120.
    pause: float = 0.04
    method: str = "GET"
    answers: list[Answer] = field(default_factory=list)

    def __post_init__(self):
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._client, daemon=True) for _ in range(self.clients)]

    def _client(self) -> None:
        parts = urlsplit(self.url)
        while not self._stop.is_set():
            sent = time.monotonic()
            try:
                connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
                if self.method == "POST":
                    connection.request("POST", parts.path or "/", body="title=written+during+the+deploy", headers={"Content-Type": "application/x-www-form-urlencoded"})
                else:
                    connection.request(self.method, parts.path or "/")
                response = connection.getresponse()
                answer = Answer(sent, response.status, response.read().decode(errors="replace").strip())
                connection.close()
            except (OSError, http.client.HTTPException) as problem:
                # A refused or reset connection, or an answer cut short (IncompleteRead):
                # a failed request, never a client that stops counting.
                answer = Answer(sent, 0, f"{type(problem).__name__}: {problem}")
            with self._lock:
                self.answers.append(answer)
            time.sleep(self.pause)

    def __enter__(self) -> "Load":
        self.began = time.monotonic()
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=15)

    @property
    def failed(self) -> list[Answer]:
        return [answer for answer in self.answers if not 200 <= answer.status < 300]

    def versions(self) -> list[str]:
        return [answer.body for answer in sorted(self.answers, key=lambda a: a.sent) if 200 <= answer.status < 300]

    def served_only_from(self, body: str) -> float | None:
        """Seconds after the start from which every answer was `body` (None: never)."""
        ordered = sorted(self.answers, key=lambda a: a.sent)
        since = None
        for answer in ordered:
            if 200 <= answer.status < 300 and answer.body == body:
                since = answer.sent if since is None else since
            else:
                since = None
        return None if since is None else since - self.began

    def summary(self) -> str:
        kinds: dict[str, int] = {}
        for answer in self.failed:
            key = f"HTTP {answer.status}" if answer.status else answer.body.split(":")[0]
            kinds[key] = kinds.get(key, 0) + 1
        return f"{len(self.answers)} requests, {len(self.failed)} failed" + (f" ({kinds})" if kinds else "")


class Traffic:
    """Steady reads of every column (`GET /notes/`), writes through the running code
    (`POST /notes/`) and version checks, all through the proxy at `url` (the project's
    own, unless another host's is given with how to read its proxy's logs)."""

    def __init__(self, project, url: str | None = None, proxy_logs=None):
        # What the proxy logged, for a failure's message: Compose's logs of its nginx.
        self.proxy_logs = proxy_logs or (lambda: project.stack.compose("logs", "--no-color", "nginx", check=False).stdout)
        base = url or project.url
        self.reads = Load(f"{base}/notes/", clients=2)
        self.writes = Load(f"{base}/notes/", clients=2, method="POST")
        self.versions = Load(f"{base}/version/", clients=1)

    def __enter__(self) -> "Traffic":
        self._stack = ExitStack()
        for load in (self.reads, self.writes, self.versions):
            self._stack.enter_context(load)
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()

    @property
    def failed(self) -> list:
        return self.reads.failed + self.writes.failed + self.versions.failed

    def summary(self) -> str:
        return f"reads: {self.reads.summary()}; writes: {self.writes.summary()}; versions: {self.versions.summary()}"

    def proxy_errors(self) -> str:
        proxy = self.proxy_logs()
        return "\n".join([line for line in proxy.splitlines() if ("[error]" in line or '" 5' in line) and "timed out" not in line][-20:])

    def check(self, *versions: str) -> None:
        if self.failed:
            raise AssertionError(f"{self.summary()}; the proxy said:\n" + self.proxy_errors())
        assert len(self.writes.answers) > 20 and len(self.reads.answers) > 20, self.summary()
        assert set(versions) <= set(self.versions.versions()), self.summary()


# The zero-downtime matrix: each path that restarts services, as the tests under load
# ran it. The rows go to .sandbox/zero-downtime/; conftest.py writes the table when the
# session ends (the README quotes it).
ROWS = Path(__file__).resolve().parents[2] / ".sandbox" / "zero-downtime"
TABLE = ROWS.parent / "zero-downtime-table.md"
PATHS = [
    "deploy: a code release",
    "deploy: only the host's env file changed",
    "rollback",
    "rollback --to a chosen release",
    "a deploy killed mid-rollout, then the next deploy",
    "first deploy onto a server set up by hand",
    "deploy after it, then rollback, proxy kept",
    "django without a healthcheck, listening 6 s late",
    "two hosts, a release with a migration",
    "the proxy's own image changed (announced)",
    "django publishes a host port (announced)",
    "swarm: a release with a migration",
    "swarm: rollback",
    "swarm: a release whose tasks never get healthy",
    "swarm: a deploy killed mid-update, then the next deploy",
]


def record_path(path: str, traffic: Traffic, outcome: str, *, more_versions: Load | None = None) -> None:
    """One row of the matrix: the path, what the traffic saw (`more_versions`: another
    host's version checks), and what the run said."""
    assert path in PATHS, path
    ROWS.mkdir(parents=True, exist_ok=True)
    versions = [traffic.versions] + ([more_versions] if more_versions else [])
    counts = [f"{len(load.failed)} of {len(load.answers)}" for load in (traffic.reads, traffic.writes)]
    counts.append(f"{sum(len(load.failed) for load in versions)} of {sum(len(load.answers) for load in versions)}")
    failed = traffic.failed or (more_versions.failed if more_versions else [])
    if failed and not path.endswith("(announced)"):
        outcome = f"FAILED: {traffic.summary()}"
    (ROWS / f"{PATHS.index(path):02d}.txt").write_text("\t".join([path, *counts, outcome]) + "\n")


def write_table() -> None:
    rows = [row.read_text().rstrip("\n").split("\t") for row in sorted(ROWS.glob("*.txt"))] if ROWS.exists() else []
    if not rows:
        return
    lines = ["| path | failed reads | failed writes | failed version checks | what the run said |", "| --- | --- | --- | --- | --- |"]
    lines += ["| " + " | ".join(re.sub(r"[|`]", "", cell) for cell in row) + " |" for row in rows]
    TABLE.write_text("\n".join(lines) + "\n")
