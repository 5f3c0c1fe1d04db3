"""Facts: a read-only command plus a pure parser of its output. The parsers are tested
on recorded output; `probe` runs a fact's command through an executor."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass, replace
from typing import Callable, Generic, Sequence, TypeVar

from invoke import Result

from ..errors import DeployError, UnreadableOutput

T = TypeVar("T")


def reads(what: str, todo: str):
    """A parser of `what`'s output: output it cannot make sense of (JSON of another
    shape, a truncated line) is UnreadableOutput saying so, never another exception."""

    def wrap(parse):
        @functools.wraps(parse)
        def parsed(*args, **kwargs):
            try:
                return parse(*args, **kwargs)
            except DeployError:
                raise
            except json.JSONDecodeError as problem:
                raise UnreadableOutput(f"could not read the output of {what}: not the JSON expected ({problem.msg} at line {problem.lineno})", todo) from None
            except (ValueError, KeyError, TypeError, AttributeError, IndexError):
                raise UnreadableOutput(f"could not read the output of {what}: not of the shape expected", todo) from None

        return parsed

    return wrap


class _Raise:
    def __repr__(self) -> str:
        return "RAISE"


# A fact whose command fails is a CommandFailed saying so, unless it says what it reads as then.
RAISE: object = _Raise()


@dataclass(frozen=True)
class Fact(Generic[T]):
    """A read-only command and the pure parser of what it prints. The one way a host is
    read: `Target.probe` runs it (a probe: bounded, never streamed, never changing
    anything) and returns what `parse` makes of its output.

    `parse(stdout)` reads a command that succeeded (with `with_stderr`, what it wrote
    to stderr too). A failed command raises CommandFailed (with `todo`), or reads as
    `otherwise` when that is given. `read(result)`, given instead of `parse`, reads the
    whole result whatever its exit status, for a command whose exit status is part of
    the answer (exit 3: no lock). `redact`: the output may hold secrets (resolved env
    files), never quoted in an error. `timeout`: seconds, for a command that bounds
    itself beyond the probe default."""

    name: str
    argv: Sequence[str]
    parse: Callable[[str], T] | None = None
    redact: bool = False
    todo: str = ""
    otherwise: object = RAISE
    read: Callable[[Result], T] | None = None
    with_stderr: bool = False
    timeout: float | None = None

    def or_else(self, value) -> "Fact[T]":
        """The same fact, reading as `value` when its command fails."""
        return replace(self, otherwise=value)

    def of(self, result: Result, failure: Callable[[Result], Exception]) -> T:
        if self.read is not None:
            return self.read(result)
        if not result.ok:
            if self.otherwise is RAISE:
                raise failure(result)
            return self.otherwise
        return self.parse(result.stdout + result.stderr if self.with_stderr else result.stdout)


def probe(executor, fact: Fact[T], cwd: str | None = None) -> T:
    result = executor.run(fact.argv, cwd=cwd, probe=True, stream=False, check=False, redact=fact.redact, timeout=fact.timeout)
    return fact.of(result, lambda failed: executor.failure(failed, shown=False, redact=fact.redact, todo=fact.todo))
