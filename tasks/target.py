"""One server of one run: its settings, its executor (dry or real), its report, the
paths composeship keeps there, and the journal of the run while it holds the lock."""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, field

from .commands import host
from .commands.compose import ComposeProject
from .executor import Executor
from .facts import Fact, probe
from .report import Report
from .settings import Settings

# Fault drills: `COMPOSESHIP_PAUSE_AT=migrate:20` makes every run pause 20 s on the
# host at the end of the `migrate` step, so that a signal, a cut connection or an
# engine restart can be caused at a known step (tests/e2e/test_faults.py does).
PAUSE_VARIABLE = "COMPOSESHIP_PAUSE_AT"


def drill_pause(environ=None) -> tuple[str, float] | None:
    value = (environ if environ is not None else os.environ).get(PAUSE_VARIABLE, "")
    step, _, seconds = value.partition(":")
    try:
        return (step, float(seconds)) if step and seconds else None
    except ValueError:
        return None


@dataclass
class Target:
    name: str
    settings: Settings
    executor: Executor
    report: Report
    project: ComposeProject = field(init=False)
    # Set while this run holds the lock: every step is written to it first.
    journal: object | None = None
    drilled: bool = False

    def __post_init__(self):
        self.project = ComposeProject.from_settings(self.settings)

    @property
    def path(self) -> str:
        return self.settings.path

    @property
    def dry_run(self) -> bool:
        return self.executor.dry_run

    @property
    def state_dir(self) -> str:
        # Inside .git: never part of `git status`, never touched by a checkout.
        return f"{self.path}/.git/composeship"

    @property
    def lock_dir(self) -> str:
        return f"{self.state_dir}/lock"

    @property
    def release_log(self) -> str:
        return f"{self.state_dir}/releases.log"

    @property
    def journal_path(self) -> str:
        return f"{self.state_dir}/journal.json"

    @property
    def build_override(self) -> str:
        return f"{self.state_dir}/build-labels.yml"

    @contextmanager
    def step(self, name: str):
        with self.report.step(name, host=self.name) as record:
            if self.journal is not None:
                self.journal.enter(name)
            yield record
            self.drill(name)

    def drill(self, point: str) -> None:
        """The fault drill's pause, when COMPOSESHIP_PAUSE_AT names this point: the end
        of a step, or `rollout` (new containers answering, the old ones not yet stopped)."""
        pause = drill_pause()
        if pause and pause[0] == point and not self.drilled:
            self.drilled = True  # once: the cleanup may pass the same point again
            self.report.say(f"drill: pausing {pause[1]:g}s on {self.name} at {point} ({PAUSE_VARIABLE})")
            self.executor.run(host.sleep(pause[1]), stream=False, check=False, interruptible=True)

    def skip(self, name: str, why: str) -> None:
        self.report.skip(name, why, host=self.name)

    def run(self, argv, *, cwd: str | None = "", **options):
        """Run in DEPLOY_PATH unless another cwd (or None: no cd) is given."""
        return self.executor.run(argv, cwd=self.path if cwd == "" else cwd, **options)

    def check(self, argv, *, cwd: str | None = "") -> bool:
        """A read-only yes/no question: did argv exit 0?"""
        return self.run(argv, cwd=cwd, probe=True, stream=False, check=False).ok

    def probe(self, fact: Fact, *, cwd: str | None = ""):
        return probe(self.executor, fact, cwd=self.path if cwd == "" else cwd)
