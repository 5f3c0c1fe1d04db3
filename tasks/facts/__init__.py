"""Facts: a read-only command plus a pure parser of its output. The parsers are tested
on recorded output; `probe` runs a fact's command through an executor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Generic, Sequence, TypeVar

T = TypeVar("T")


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
