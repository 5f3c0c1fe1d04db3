"""One server of one run: its settings, its executor (dry or real), its report, and
the paths composeship keeps there."""

from __future__ import annotations

from dataclasses import dataclass, field

from .commands.compose import ComposeProject
from .executor import Executor
from .facts import Fact, probe
from .report import Report
from .settings import Settings


@dataclass
class Target:
    name: str
    settings: Settings
    executor: Executor
    report: Report
    project: ComposeProject = field(init=False)

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

    def step(self, name: str):
        return self.report.step(name, host=self.name)

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
