"""Session-wide hooks. They live here, at the top of the test paths, because with
pytest-xdist only this conftest is loaded by the process that runs the session (the
workers load the others as they collect)."""

import itertools
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[1] / "example"


def _controller(config) -> bool:
    """The process that runs the session, not one of pytest-xdist's workers."""
    return not hasattr(config, "workerinput")


def _runs_end_to_end(config) -> bool:
    return not config.args or any("e2e" in arg or arg.rstrip("/") in ("tests", ".") for arg in config.args)


def warm_build_cache() -> None:
    """Build the example's images once, before the workers start: their first tests would
    otherwise each run the same `apt-get install` layers at once (Compose builds with the
    engine's classic builder here, which shares finished layers, not builds under way)."""
    built = subprocess.run(
        ["docker", "compose", "-p", "composeship-warm", "-f", "docker-compose.production.yml", "build", "-q"],
        cwd=EXAMPLE,
        capture_output=True,
        text=True,
        timeout=900,
        stdin=subprocess.DEVNULL,
    )
    if built.returncode != 0:
        print(f"warning: building the example's images to warm the cache failed: {built.stderr.strip()[-300:]}", file=sys.stderr)


# pytest-xdist (--dist loadgroup) hands out the xdist groups first, the largest first
# (the fault tables), then the other tests in collection order. Those are ordered here:
# the longest end-to-end tests first (the swarm's, the ones under load, the two hosts'),
# so that the short ones and the unit tests fill the end of the run; started last (their
# files sort late), a long test ended the run alone on one worker.
FIRST = (
    "tests/e2e/test_swarm.py",
    "tests/e2e/test_zero_downtime.py",
    "tests/e2e/test_many_hosts.py",
    "tests/e2e/test_migration_safety.py",
    "tests/e2e/test_expand_contract.py",
    "tests/e2e/test_local.py",
    "tests/e2e/test_truth.py",
    "tests/e2e/test_operate.py",
)


def start_rank(nodeid: str) -> int:
    return next((rank for rank, prefix in enumerate(FIRST) if nodeid.startswith(prefix)), len(FIRST))


def pytest_collection_modifyitems(items):
    items.sort(key=lambda item: start_rank(item.nodeid))


def pytest_sessionstart(session):
    if _controller(session.config):
        from tests.e2e import fault_rows
        from tests.e2e.load import ROWS
        from tests.e2e.test_faults import CELLS

        for folder in (CELLS, ROWS, fault_rows.ROWS):
            shutil.rmtree(folder, ignore_errors=True)
        if _runs_end_to_end(session.config) and shutil.which("docker"):
            warm_build_cache()
        threading.Thread(target=_sample_cpu, daemon=True).start()


def pytest_sessionfinish(session):
    if _controller(session.config):
        from tests.e2e import fault_rows, load, test_faults

        test_faults.write_table()
        fault_rows.write_table(_failed)
        load.write_table()
        write_timeline()


TIMELINE = Path(__file__).resolve().parents[1] / ".sandbox" / "test-timeline.tsv"
_timeline: list[tuple[str, str, str, float, float]] = []
_failed: set[str] = set()
# (time, the machine's busy CPU seconds so far), once a second.
_cpu: list[tuple[float, float]] = []


def _busy_seconds() -> float:
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:8]]
    return (sum(fields) - fields[3] - fields[4]) / 100  # all but idle and iowait, in USER_HZ


def _sample_cpu() -> None:
    while True:
        _cpu.append((time.time(), _busy_seconds()))
        time.sleep(1)


def core_seconds(spans: list[tuple[float, float]], samples: list[tuple[float, float]]) -> list[float]:
    """The machine's busy CPU shared out among the spans running at once: each second's
    between two samples goes in equal parts to the spans that overlap it, in proportion
    to how much of it they cover. A rough share (a test that waits gets as much as one
    that works), but the sum is the machine's, and a test's figure over several runs
    shows what it costs."""
    shares = [0.0] * len(spans)
    for (t0, c0), (t1, c1) in itertools.pairwise(samples):
        overlaps = [(index, min(stop, t1) - max(start, t0)) for index, (start, stop) in enumerate(spans) if start < t1 and stop > t0]
        covered = sum(overlap for _, overlap in overlaps)
        for index, overlap in overlaps:
            shares[index] += (c1 - c0) * overlap / covered
    return shares


def pytest_runtest_logreport(report):
    """Each test phase's worker and wall-clock span, kept by the controller: the suite's
    time is its busiest worker's, and the timeline shows which tests make it."""
    if report.failed:
        _failed.add(report.nodeid)
    start, stop = getattr(report, "start", None), getattr(report, "stop", None)
    if start is not None and stop is not None:
        worker = getattr(getattr(report, "node", None), "gateway", None)
        _timeline.append((worker.id if worker else "main", report.nodeid, report.when, start, stop))


def write_timeline() -> None:
    """.sandbox/test-timeline.tsv: worker, test, phase, start and end (seconds from the
    first start) and its share of the machine's busy CPU, in the order they started;
    each worker's busy seconds, and the machine's CPU over the run."""
    if not _timeline:
        return
    rows = sorted(_timeline, key=lambda row: row[3])
    began = rows[0][3]
    busy: dict[str, float] = {}
    for worker, _, _, start, stop in rows:
        busy[worker] = busy.get(worker, 0.0) + stop - start
    cpu = core_seconds([(start, stop) for *_, start, stop in rows], list(_cpu))
    lines = [
        f"# busy seconds per worker: {', '.join(f'{w} {s:.0f}' for w, s in sorted(busy.items()))}",
        f"# the machine's busy CPU during the run: {_cpu[-1][1] - _cpu[0][1]:.0f} core-seconds" if len(_cpu) > 1 else "# no CPU samples",
        "worker\ttest\tphase\tstart\tend\tseconds\tcore-seconds",
    ]
    for (worker, nodeid, when, start, stop), share in zip(rows, cpu, strict=True):
        lines.append(f"{worker}\t{nodeid}\t{when}\t{start - began:.1f}\t{stop - began:.1f}\t{stop - start:.1f}\t{share:.1f}")
    TIMELINE.parent.mkdir(exist_ok=True)
    TIMELINE.write_text("\n".join(lines) + "\n")
