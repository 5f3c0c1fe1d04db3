"""The rollout's wait for new containers, run for real by a local `sh`, with small
stand-ins for `docker` and `curl` on PATH (the script's logic is what is tested here;
tests/e2e/test_zero_downtime.py runs it against the real engine)."""

import os
import subprocess
from pathlib import Path

from tasks.commands import rollout

# `docker ps` lists one old and one new container; the new one runs, has no healthcheck,
# and its address is 10.0.0.9. `curl` answers with the code in $CURL_CODE, and records
# the URL and Host header it was asked for.
DOCKER = """#!/bin/sh
case "$1 $2" in
  "ps --all") printf 'old1\\nnew1\\n' ;;
  "inspect --format")
    case "$3" in
      *State.Status*) echo running ;;
      *State.Health*) echo "" ;;
      *IPAddress*) echo "10.0.0.9 " ;;
    esac ;;
  "logs --tail") echo "booting" ;;
esac
"""
CURL = """#!/bin/sh
echo "$*" >> "$CALLS"
printf '%s' "$CURL_CODE"
"""


def run_wait(tmp_path: Path, code: str, answer=(5000, "/health/", "example.com"), timeout: int = 1):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, text in (("docker", DOCKER), ("curl", CURL)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    calls = tmp_path / "calls"
    environ = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "CURL_CODE": code, "CALLS": str(calls)}
    argv = rollout.wait_ready("shop", [("django", ["old1"], "", answer)], timeout, interval=0.05)
    result = subprocess.run(argv, env=environ, capture_output=True, text=True, timeout=30)
    return result, calls.read_text() if calls.exists() else ""


def test_a_web_container_without_a_healthcheck_is_ready_once_the_app_answers(tmp_path):
    result, calls = run_wait(tmp_path, "200")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "new django new1\n"
    assert "-H Host: example.com http://10.0.0.9:5000/health/" in calls


def test_any_answer_below_500_counts_as_the_app_answering(tmp_path):
    # A redirect to https, or a 400 for a Host the app does not serve: gunicorn answered.
    assert run_wait(tmp_path, "301")[0].returncode == 0
    assert run_wait(tmp_path, "400")[0].returncode == 0


def test_no_answer_or_a_server_error_is_not_ready_and_the_error_says_what_it_got(tmp_path):
    result, _ = run_wait(tmp_path, "000")
    assert result.returncode == 1
    assert "container new1: running" in result.stderr
    assert "  app: http://10.0.0.9:5000/health/ answered 000 (000: nothing)" in result.stderr
    assert "  log: booting" in result.stderr
    assert run_wait(tmp_path, "502")[0].returncode == 1


def test_a_service_that_is_no_web_service_is_ready_when_it_runs(tmp_path):
    result, calls = run_wait(tmp_path, "000", answer=None)
    assert result.returncode == 0, result.stderr
    assert calls == ""


# A container with a healthcheck that Docker has not run yet (a long interval): its
# health is "starting" with an empty log, and the check, run by the rollout, says 503.
DOCKER_BEFORE_ITS_FIRST_CHECK = """#!/bin/sh
case "$1 $2" in
  "ps --all") printf 'old1\\nnew1\\n' ;;
  "inspect --format")
    case "$3" in
      *Health.Log*) echo "" ;;
      *State.Status*ExitCode*) echo "running 0" ;;
      *State.Status*) echo "running, starting" ;;
      *Health.Status*) echo starting ;;
    esac ;;
  "exec new1") echo "HTTP/1.1 503 Service Unavailable"; exit 1 ;;
  "logs --tail") echo "booting" ;;
esac
"""


def test_before_dockers_first_check_the_error_shows_what_the_rollouts_own_check_said(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "docker").write_text(DOCKER_BEFORE_ITS_FIRST_CHECK)
    (bin_dir / "docker").chmod(0o755)
    argv = rollout.wait_ready("shop", [("django", ["old1"], "check-health", None)], 1, interval=0.05)
    result = subprocess.run(argv, env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}, capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "container new1: running, starting\n  health: HTTP/1.1 503 Service Unavailable\n  log: booting\n" in result.stderr, result.stderr
