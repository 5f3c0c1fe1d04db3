"""A pipeline as data: its steps in order, each with the name that the printed plan,
the output and the journal give it, the line the plan says of it, and where it runs.
The plan a run prints first is made from the same list the run goes through, so the
two cannot say different things."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from ..target import Target


class Where(Enum):
    """Which hosts of a run a step runs on, and so what a failure in it undoes."""

    # Before any restart, every host at once: a failure puts checkout and tags back.
    EVERY_HOST = "every host at once"
    # Before any restart, once, on the primary host (the one migrations run on).
    PRIMARY = "the primary host"
    # The first host behind its health gate, then the others together: a host that
    # fails is rolled back to what served.
    ROLLOUT = "the first host, then the others"
    # Once every host serves the release, on the primary host: nothing is undone.
    ONCE_SERVED = "the primary host, once every host serves"
    # Done by the run's skeleton (the lock, recording), not by the pipeline's own code.
    SKELETON = "every host"


@dataclass(frozen=True)
class Step:
    """`explain(t, ref)`: the step's line in the printed plan. `skip(job, host_run)`: the
    decision, from what the steps before found — why the step is not needed on this
    host, or None to do it. `apply(job, host_run)`: what it does on one host; it opens
    the step of the same name in the output, so that the journal names the step while
    it runs (a decision that needs the host's answer is made there, and says so)."""

    name: str
    explain: Callable[[Target, str], str]
    apply: Callable[[Any, Any], None] | None = None
    where: Where = Where.EVERY_HOST
    skip: Callable[[Any, Any], str | None] | None = None


def plan_lines(t: Target, ref: str, steps: list[Step]) -> list[tuple[str, str]]:
    return [(step.name, step.explain(t, ref)) for step in steps]


def print_plan(t: Target, title: str, lines: list[tuple[str, str]]) -> None:
    s = t.settings
    t.report.say(f"{title} on {t.name}: {s.path}, {s.compose_file}")
    width = max(len(name) for name, _ in lines)
    for number, (name, what) in enumerate(lines, 1):
        t.report.say(f"  {number:>2}. {name:<{width}}  {what}")


def groups(steps: list[Step]) -> list[tuple[Where, list[Step]]]:
    """Consecutive steps that run on the same hosts, together: each host goes through
    a group in its own thread, without waiting for the others between its steps."""
    grouped: list[tuple[Where, list[Step]]] = []
    for step in steps:
        if grouped and grouped[-1][0] is step.where:
            grouped[-1][1].append(step)
        else:
            grouped.append((step.where, [step]))
    return grouped


def names(group: list[Step]) -> str:
    return ", ".join(step.name for step in group)


def run_in_order(steps: list[Step], job, run) -> None:
    """Steps on one host, one after the other: each skipped with its reason, or applied."""
    for step in steps:
        why = step.skip(job, run) if step.skip is not None else None
        if why:
            run.t.skip(step.name, why)
        else:
            step.apply(job, run)
