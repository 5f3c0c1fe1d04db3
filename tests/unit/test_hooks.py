"""hooks.py: a hook is a real executable in the config folder's hooks/, run by the real
local executor; what its exit code, a timeout or its absence decide. Only pre-deploy
can stop a deploy."""

import io
import os
import stat
import time

import pytest

from tasks.errors import DeployError
from tasks.hooks import hook_environment, local_executor, run_hook
from tasks.report import Report


def hook(config, name, body):
    path = config / "hooks" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\n" + body + "\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


@pytest.fixture
def config(tmp_path, monkeypatch):
    monkeypatch.setenv("DEPLOY_CONFIG_DIR", str(tmp_path))
    return tmp_path


def ran(name, timeout=10):
    report = Report("deploy", out=io.StringIO())
    ok = run_hook(name, local_executor(False), report, timeout, hosts=["web1", "web2"], ref="main", revision="a" * 40, previous="b" * 40, result="ok")
    return ok, report.steps


def test_the_hook_gets_the_runs_facts_in_its_environment(config, capsys):
    hook(config, "post-deploy", 'echo "$DEPLOY_HOOK $DEPLOY_HOSTS $DEPLOY_REF $DEPLOY_RESULT"')
    ok, steps = ran("post-deploy")
    assert ok and [(s.name, s.status) for s in steps] == [("hook post-deploy", "ok")]
    assert capsys.readouterr().out == "post-deploy web1,web2 main ok\n"


def test_no_hook_is_nothing_to_run(config):
    assert ran("pre-deploy") == (True, [])


def test_a_failing_pre_deploy_hook_stops_the_deploy(config):
    hook(config, "pre-deploy", "exit 3")
    with pytest.raises(DeployError) as caught:
        ran("pre-deploy")
    assert "failed with exit code 3" in str(caught.value) and "nothing was changed on any host" in str(caught.value)


def test_a_failing_later_hook_is_reported_and_ignored(config):
    hook(config, "post-deploy", "exit 4")
    ok, steps = ran("post-deploy")
    assert not ok
    assert (steps[0].status, steps[0].note) == ("failed", "exit code 4 (ignored: only pre-deploy can stop a deploy)")


def test_a_hook_past_its_timeout_is_ended_with_its_children(config):
    # The child holds the hook's output open: ending the hook alone would leave the
    # deploy waiting for the child, 30 s here.
    child = config / "child.pid"
    hook(config, "pre-deploy", f"sleep 30 & echo $! > {child}; wait")
    began = time.monotonic()
    with pytest.raises(DeployError) as caught:
        ran("pre-deploy", timeout=1)
    assert time.monotonic() - began < 20
    assert "was still running after 1s (DEPLOY_HOOK_TIMEOUT) and was killed" in str(caught.value)
    with pytest.raises(ProcessLookupError):
        os.kill(int(child.read_text()), 0)
    hook(config, "post-deploy", "sleep 30")
    ok, steps = ran("post-deploy", timeout=1)
    assert not ok and steps[0].note == "killed after 1s (DEPLOY_HOOK_TIMEOUT; ignored: only pre-deploy can stop a deploy)"


def test_a_hook_that_is_not_executable_is_refused_with_the_fix(config):
    hook(config, "pre-deploy", "true").chmod(0o644)
    with pytest.raises(DeployError) as caught:
        ran("pre-deploy")
    assert "is not executable" in str(caught.value) and "chmod +x" in str(caught.value)


def test_the_environment_leaves_unknown_revisions_empty():
    assert hook_environment("pre-deploy", ["web1"], "main") == {
        "DEPLOY_HOOK": "pre-deploy",
        "DEPLOY_HOSTS": "web1",
        "DEPLOY_REF": "main",
        "DEPLOY_REVISION": "",
        "DEPLOY_PREVIOUS_REVISION": "",
        "DEPLOY_RESULT": "",
    }
