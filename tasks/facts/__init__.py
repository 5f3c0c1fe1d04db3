"""Facts: a read-only command plus a pure parser of its output. The parsers are tested
on recorded output; `probe` runs a fact's command through an executor."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from typing import Callable, Generic, Sequence, TypeVar

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


@dataclass(frozen=True)
class Fact(Generic[T]):
    name: str
    argv: Sequence[str]
    parse: Callable[[str], T]
    # Output may hold secrets (resolved env files): never quote it in an error.
    redact: bool = False


def probe(executor, fact: Fact[T], cwd: str | None = None) -> T:
    result = executor.run(fact.argv, cwd=cwd, probe=True, stream=False, redact=fact.redact)
    return fact.parse(result.stdout)
