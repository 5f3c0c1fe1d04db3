"""The second fault table: faults that come in the middle of a command, in the other
pipelines (rollback, migrate-only, setup), in a run's own cleanup, and of the kinds
that are not a stop (a wait that never ends, a lock broken under a live run). Each
test that causes one records its row — the pipeline, where the fault came, the
fault, what the host was left with, and what ran next — to .sandbox/fault-rows/; the
table is written to .sandbox/fault-table-more.md when the session ends (the README
quotes it). A row stands only if its test then passed, checking what it says as a
user would: a failed test's row says FAILED."""

from __future__ import annotations

import os
import re
from pathlib import Path

ROWS = Path(__file__).resolve().parents[2] / ".sandbox" / "fault-rows"
TABLE = ROWS.parent / "fault-table-more.md"
ORDER = ("deploy", "rollback", "rollback --migrations", "migrate-only", "setup")


def record_row(pipeline: str, where: str, fault: str, left: str, then: str) -> None:
    ROWS.mkdir(parents=True, exist_ok=True)
    test = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" (", 1)[0]
    name = re.sub(r"[^a-z0-9]+", "-", f"{pipeline} {where} {fault}".lower()).strip("-")[:120]
    (ROWS / f"{name}.txt").write_text("\t".join([test, pipeline, where, fault, left, then]) + "\n")


def write_table(failed: set[str]) -> None:
    """`failed`: the node ids of the tests that failed in this session."""
    rows = [row.read_text().rstrip("\n").split("\t") for row in sorted(ROWS.glob("*.txt"))] if ROWS.exists() else []
    if not rows:
        return
    rows.sort(key=lambda row: (ORDER.index(row[1]) if row[1] in ORDER else len(ORDER), row[2]))
    lines = ["| pipeline | where | fault | what the host was left with | what ran next |", "| --- | --- | --- | --- | --- |"]
    for test, *cells in rows:
        if test in failed:
            cells[-1] = f"FAILED ({test})"
        lines.append("| " + " | ".join(cell.replace("|", "/") for cell in cells) + " |")
    TABLE.write_text("\n".join(lines) + "\n")
