"""The suite's speed rests on pytest-xdist keeping each group of fault cells on one
worker (one deployed project, and one Docker Engine of its own, per group): checked on
a small suite of its own, because a pytest release once broke it without a word."""

import subprocess
import sys

SAMPLE = """
import os
import pytest

@pytest.mark.parametrize("step", [pytest.param(s, marks=pytest.mark.xdist_group("cells-" + str(i // 3))) for i, s in enumerate("abcdef")])
def test_cell(step):
    with open(os.path.join(os.environ["OUT"], step), "w") as out:
        out.write(os.environ["PYTEST_XDIST_WORKER"])

def test_other():
    pass
"""


def test_cells_of_a_group_run_on_one_worker(tmp_path):
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    out = tmp_path / "out"
    out.mkdir()
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "3", "--dist", "loadgroup", str(tmp_path / "test_sample.py")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"OUT": str(out), "PATH": "/usr/bin:/bin"},
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    worker = {step: (out / step).read_text() for step in "abcdef"}
    assert worker["a"] == worker["b"] == worker["c"] and worker["d"] == worker["e"] == worker["f"], worker


def test_the_timeline_shares_out_each_seconds_cpu_among_the_phases_running_then():
    from tests.conftest import core_seconds

    # 1 s busy while only the first runs, 2 s shared by both, 1 s the second's alone;
    # a span that runs while no sample was taken gets nothing.
    samples = [(0.0, 0.0), (1.0, 1.0), (2.0, 3.0), (3.0, 4.0)]
    assert core_seconds([(0.0, 2.0), (1.0, 3.0), (5.0, 6.0)], samples) == [2.0, 2.0, 0.0]
    # Half a second of the second's overlap counts half as much as the first's whole second.
    assert core_seconds([(0.0, 1.0), (0.5, 1.0)], [(0.0, 0.0), (1.0, 3.0)]) == [2.0, 1.0]
