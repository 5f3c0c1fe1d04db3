"""One server of one run: its settings, its executor (dry or real), its report, the
paths composeship keeps there, and the journal of the run while it holds the lock."""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, TypeVar

from .commands import host
from .commands.compose import ComposeProject
from .executor import Executor
from .facts import Fact, probe
from .report import Report
from .settings import Settings

K = TypeVar("K")

# Fault drills: `COMPOSESHIP_PAUSE_AT=migrate:20` makes every run pause 20 s on the
# host at the end of the `migrate` step, so that a signal, a cut connection or an
# engine restart can be caused at a known step (tests/e2e/test_faults.py does).
# `COMPOSESHIP_PAUSE_IN=checkout:20`: the step's first command that changes the host
# holds still 20 s once it has run, in the same remote shell, so that the fault comes
# during a command that has had its effect.
PAUSE_VARIABLE = "COMPOSESHIP_PAUSE_AT"
PAUSE_IN_VARIABLE = "COMPOSESHIP_PAUSE_IN"


def drill_pause(environ=None, variable: str = PAUSE_VARIABLE) -> tuple[str, float] | None:
    value = (environ if environ is not None else os.environ).get(variable, "")
    step, _, seconds = value.partition(":")
    try:
        return (step, float(seconds)) if step and seconds else None
    except ValueError:
        return None


class StepJournal(Protocol):
    """What a target tells the journal of the run holding its lock (steps/journal.py's
    RunJournal): the step it enters, before the step runs."""

    def enter(self, step: str) -> None: ...


@dataclass
class Target:
    name: str
    settings: Settings
    executor: Executor
    report: Report
    project: ComposeProject = field(init=False)
    # Set while this run holds the lock: every step is written to it first.
    journal: StepJournal | None = None
    drilled: bool = False
    step_name: str = ""
    # The commands that change the host run so far in the current step (for the drill).
    changes_in_step: int = 0

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
            outer, self.step_name = self.step_name, name
            self.changes_in_step = 0
            try:
                yield record
            finally:
                self.step_name = outer
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
        if not options.get("probe"):
            argv = self.drill_in(argv)
        return self.executor.run(argv, cwd=self.path if cwd == "" else cwd, **options)

    def drill_in(self, argv):
        """COMPOSESHIP_PAUSE_IN=STEP[#N]:SECONDS: the step's first (or Nth) command that
        changes the host holds still once it has run."""
        pause = drill_pause(variable=PAUSE_IN_VARIABLE)
        step, _, nth = pause[0].partition("#") if pause else ("", "", "")
        if not pause or step != self.step_name or self.drilled:
            return argv
        self.changes_in_step += 1
        if self.changes_in_step < int(nth or 1):
            return argv
        self.drilled = True
        self.report.say(f"drill: the next command on {self.name} in {self.step_name} holds still {pause[1]:g}s once it has run ({PAUSE_IN_VARIABLE})")
        return host.held_after(argv, pause[1])

    def check(self, argv, *, cwd: str | None = "") -> bool:
        """A read-only yes/no question: did argv exit 0?"""
        return self.probe(Fact("exit status", argv, read=lambda result: result.ok), cwd=cwd)

    def probe(self, fact: Fact, *, cwd: str | None = ""):
        return probe(self.executor, fact, cwd=self.path if cwd == "" else cwd)

    def probe_all(self, facts: Mapping[K, Fact], *, cwd: str | None = "") -> dict[K, Any]:
        """Several facts in one round trip, each read as it says, under the keys asked."""
        where = self.path if cwd == "" else cwd
        results = self.executor.probe_batch({key: (fact.argv, where) for key, fact in facts.items()})
        return {key: fact.of(results[key], lambda failed, fact=fact: self.executor.failure(failed, shown=False, redact=fact.redact, todo=fact.todo)) for key, fact in facts.items()}
