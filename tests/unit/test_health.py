"""The health gate (steps/health.py) on a recorded host: DEPLOY_HEALTHCHECK_URL polled
on the server until it answers 2xx; unset, the gate is skipped and says so; a URL that
holds a secret never appears in the plan, the note or the error."""

import io

import pytest
from invoke import Result

from tasks.errors import ConfigError, DeployError
from tasks.executor import Executor
from tasks.report import Report
from tasks.settings import load
from tasks.steps import health
from tasks.target import Target
from tests.unit.recorded_host import RecordedHost

POLL = r"^sh -c 'url=\"\$0\"; end="


def target(tmp_path, answer: Result, url: str = "http://127.0.0.1:8000/health/") -> tuple[Target, RecordedHost, io.StringIO]:
    host = RecordedHost({POLL: answer})
    environ = {"DEPLOY_CONFIG_DIR": str(tmp_path), "DEPLOY_PATH": "/srv/shop", "DEPLOY_HEALTHCHECK_TIMEOUT": "7", **({"DEPLOY_HEALTHCHECK_URL": url} if url else {})}
    out = io.StringIO()
    return Target("web1", load("production", host="web1", environ=environ), Executor(host, host="web1", out=out), Report("deploy", "web1", out=out)), host, out


def test_a_2xx_answer_passes_and_is_the_steps_note(tmp_path):
    t, host, out = target(tmp_path, Result("HTTP 200\n"))
    with t.report:
        health.gate(t)
    assert len(host.commands) == 1 and "http://127.0.0.1:8000/health/ 7 0.5" in host.commands[0]
    assert "<== health [web1] ok" in out.getvalue() and "HTTP 200" in out.getvalue()


def test_no_2xx_within_the_timeout_fails_with_the_last_answer(tmp_path):
    t, _, _ = target(tmp_path, Result("HTTP 502\n", exited=1))
    with pytest.raises(DeployError) as failed:
        with t.report:
            health.gate(t)
    assert failed.value.what == "http://127.0.0.1:8000/health/ did not answer 2xx within 7s (last: HTTP 502)"


def test_without_a_url_the_gate_is_skipped_and_says_why(tmp_path):
    t, host, out = target(tmp_path, Result("HTTP 200\n"), url="")
    with t.report:
        health.gate(t)
    assert host.commands == []
    assert "--- health [web1] skipped: DEPLOY_HEALTHCHECK_URL is not set" in out.getvalue()
    assert health.explain(t, "main") == "skipped: DEPLOY_HEALTHCHECK_URL is not set"


def test_a_url_with_a_secret_is_refused_before_any_connection_without_showing_it(tmp_path):
    url = "http://monitor:s3cret@127.0.0.1:8000/health/?token=t0k"
    with pytest.raises(ConfigError) as refused:
        target(tmp_path, Result("HTTP 200\n"), url=url)
    said = refused.value.what + refused.value.todo
    assert "has credentials in it" in said and "s3cret" not in said and "t0k" not in said, said


def test_a_query_is_not_shown_in_the_plan_or_the_error(tmp_path):
    url = "http://127.0.0.1:8000/health/?probe=deploy"
    t, host, out = target(tmp_path, Result(f"curl: (7) Failed to connect to {url}\n", exited=1), url=url)
    with pytest.raises(DeployError) as failed:
        with t.report:
            health.gate(t)
    assert url in host.commands[0], "the host is asked the real URL"
    said = failed.value.what + out.getvalue() + health.explain(t, "main")
    assert "probe=deploy" not in said, said
