"""Steady clients for the zero-downtime checks: each sends one request after another
to the same URL (a new connection each, as browsers behind a proxy mostly do) and
records when it was sent, the status and the body, or the error. A client that POSTs
writes through the running code (the example's `POST /notes/` inserts a row)."""

from __future__ import annotations

import http.client
import threading
import time
from dataclasses import dataclass, field
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
    # A pause between one client's requests, so that the load is steady, not a flood.
    pause: float = 0.02
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
            except OSError as problem:
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
