"""What the server pipelines share (pipelines/common.py), as data: cleanup that tries
every action and reports what failed together, several hosts at once with every
failure named, how a run's outcome is decided from what stopped it, and which runs
leave a line in the release log."""

import signal
import time

import pytest

from tasks.errors import ConnectionLost, DeployError, LockBroken
from tasks.executor import Stopped
from tasks.pipelines import common
from tasks.records import Outcome, Release


def test_cleanup_tries_every_action_and_reports_the_failures_together():
    cleanup, done = common.Cleanup(), []

    def fails(what):
        def action():
            raise DeployError(what)

        return action

    assert not cleanup.attempt("revert on web1", fails("git checkout failed"))
    assert cleanup.attempt("unlock on web1", lambda: done.append("unlocked"))
    assert not cleanup.attempt("unlock on web2", fails("connection lost"))
    assert done == ["unlocked"], "an action after a failed one still runs"
    with pytest.raises(DeployError) as raised:
        cleanup.raise_if_failed()
    assert raised.value.what == "could not clean up: revert on web1: git checkout failed; unlock on web2: connection lost"
    assert "the next run on it recovers" in raised.value.todo


def test_a_cleanup_failure_is_reported_with_what_caused_the_cleanup():
    cleanup = common.Cleanup()
    cleanup.attempt("unlock on web1", lambda: (_ for _ in ()).throw(DeployError("permission denied")))
    with pytest.raises(DeployError) as raised:
        cleanup.raise_if_failed(after=DeployError("the migration failed", "fix it with a new migration"))
    assert raised.value.what == "the migration failed; could not clean up: unlock on web1: permission denied"
    assert raised.value.todo.startswith("fix it with a new migration; the host keeps a journal")


def test_a_clean_cleanup_raises_nothing():
    common.Cleanup().raise_if_failed()


class Host:
    def __init__(self, name):
        self.t = type("T", (), {"name": name})()


def test_one_host_runs_in_this_thread_and_its_failure_is_its_own():
    ran = []
    common.in_parallel([Host("web1")], lambda run: ran.append(run.t.name), "fetch")
    assert ran == ["web1"]
    with pytest.raises(LockBroken):
        common.in_parallel([Host("web1")], lambda run: (_ for _ in ()).throw(LockBroken("broken")), "fetch")


def test_several_hosts_run_at_once_and_every_failure_is_named():
    began = time.monotonic()

    def work(run):
        time.sleep(0.3)
        if run.t.name != "web1":
            raise DeployError(f"no space on {run.t.name}")

    with pytest.raises(DeployError) as raised:
        common.in_parallel([Host("web1"), Host("web2"), Host("web3")], work, "build")
    assert time.monotonic() - began < 0.8, "at once, not one after another"
    assert raised.value.what == "build failed on 2 hosts: web2: no space on web2; web3: no space on web3"


def test_a_single_failing_host_among_several_raises_its_own_error():
    def work(run):
        if run.t.name == "web2":
            raise LockBroken("the lock of web2 was broken")

    with pytest.raises(LockBroken):
        common.in_parallel([Host("web1"), Host("web2")], work, "build")


def release(**fields) -> Release:
    return Release("deploy", "web1", "ann", "main", "t", **fields)


@pytest.mark.parametrize(
    "problem, decided, expected",
    [
        pytest.param(DeployError("boom"), None, (Outcome.FAILED, "boom"), id="a failure"),
        pytest.param(Stopped(signal.SIGTERM), None, (Outcome.INTERRUPTED, "interrupted by SIGTERM"), id="a stop signal"),
        pytest.param(ConnectionLost("the SSH connection to web1 was lost"), None, (Outcome.INTERRUPTED, "the SSH connection to web1 was lost"), id="a lost connection"),
        pytest.param(DeployError("boom"), (Outcome.ROLLED_BACK, "health"), (Outcome.ROLLED_BACK, "health"), id="rolled back already: kept"),
        pytest.param(DeployError("boom"), (Outcome.NEEDS_ATTENTION, ""), (Outcome.NEEDS_ATTENTION, "boom"), id="needs attention: kept, with the error"),
        pytest.param(Stopped(), (Outcome.NOT_RESTARTED, "web1 failed first"), (Outcome.NOT_RESTARTED, "web1 failed first"), id="not restarted: kept"),
    ],
)
def test_how_a_run_ended_unless_the_pipeline_decided_it(problem, decided, expected):
    entry = release(result=decided[0], error=decided[1]) if decided else release()
    common.failed(entry, problem)
    assert (entry.result, entry.error) == expected
