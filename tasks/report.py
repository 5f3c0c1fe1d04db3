"""What a person reads while a task runs: each step with its host and duration, then
a summary. In a dry run the step lines are shell comments, so the printed plan can
be read (or pasted) as a script."""

from __future__ import annotations

import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, TextIO


@dataclass
class StepRecord:
    name: str
    host: str
    status: str = "running"
    seconds: float = 0.0
    note: str = ""


class Report:
    def __init__(self, title: str, host: str = "local", dry_run: bool = False, out: TextIO | None = None):
        self.title = title
        self.host = host
        self.dry_run = dry_run
        self.out = out or sys.stdout
        self.steps: list[StepRecord] = []
        # Steps of several hosts may run at once, in threads: steps and lines are
        # appended under one lock, each line in one write, so lines never merge.
        self._lock = threading.Lock()
        self.started = time.monotonic()

    def say(self, text: str) -> None:
        prefix = "# " if self.dry_run else ""
        self._print(f"{prefix}{text}")

    def _print(self, text: str) -> None:
        # After SIGHUP the terminal may be gone: the run still has to clean up.
        try:
            with self._lock:
                self.out.write(text + "\n")
                self.out.flush()
        except OSError:
            pass

    @contextmanager
    def step(self, name: str, host: str | None = None) -> Iterator[StepRecord]:
        record = StepRecord(name, host or self.host)
        with self._lock:
            self.steps.append(record)
        self.say(f"==> {name} [{record.host}]")
        began = time.monotonic()
        try:
            yield record
        except BaseException:
            record.status = "failed"
            raise
        else:
            if record.status == "running":
                record.status = "ok"
        finally:
            record.seconds = time.monotonic() - began
            if self.dry_run and record.note:
                self.say(f"    {record.note}")
            if not self.dry_run:
                self.say(f"<== {name} [{record.host}] {record.status} in {record.seconds:.1f}s" + (f" ({record.note})" if record.note else ""))

    def skip(self, name: str, why: str, host: str | None = None) -> None:
        with self._lock:
            self.steps.append(StepRecord(name, host or self.host, "skipped", 0.0, why))
        self.say(f"--- {name} [{host or self.host}] skipped: {why}")

    def summary(self, failed: bool = False) -> None:
        total = time.monotonic() - self.started
        if self.dry_run:
            self.say(f"dry run of {self.title}: {len(self.steps)} step{'' if len(self.steps) == 1 else 's'}, nothing was changed")
            return
        ok = sum(1 for s in self.steps if s.status == "ok")
        outcome = "FAILED" if failed else "done"
        self._print(f"\n{self.title} {outcome} in {total:.1f}s ({ok}/{len(self.steps)} steps ok)")
        width = max((len(s.name) for s in self.steps), default=4)
        for s in self.steps:
            note = f"  {s.note}" if s.note else ""
            self._print(f"  {s.name:<{width}}  {s.host:<12} {s.status:<8} {s.seconds:6.1f}s{note}")

    def hosts_table(self, rows: list[tuple[str, str, str]]) -> None:
        """One line per host at the end of a many-host run: host, result, revisions."""
        if self.dry_run:
            return
        width = max(len(host) for host, _, _ in rows)
        self._print("\nhosts:")
        for host, result, revisions in rows:
            self._print(f"  {host:<{width}}  {str(result):<15} {revisions}")

    def __enter__(self) -> "Report":
        return self

    def __exit__(self, kind, value, traceback) -> None:
        self.summary(failed=kind is not None)
