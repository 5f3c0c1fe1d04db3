"""The rollout's wait for new containers, run for real by a local `sh`, with small
stand-ins for `docker` and `curl` on PATH (the script's logic is what is tested here;
tests/e2e/test_zero_downtime.py runs it against the real engine)."""

import os
import subprocess
from pathlib import Path

from tasks.commands import rollout

# `docker ps` lists one old and one new container; the new one runs, has no healthcheck,
# and its address is 10.0.0.9 (read with the rest of its state, all new containers in
# one `docker inspect`). `curl` answers with the code in $CURL_CODE, and records
# the URL and Host header it was asked for.
DOCKER = """#!/bin/sh
case "$1 $2" in
  "ps --all") printf 'old1 django\\nnew1 django\\n' ;;
  "inspect --format")
    case "$3" in
      *.Id*) shift 3; for id in "$@"; do echo "$id running 0 - 10.0.0.9 "; done ;;
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
  "ps --all") printf 'old1 django\\nnew1 django\\n' ;;
  "inspect --format")
    case "$3" in
      *.Id*) shift 3; for id in "$@"; do echo "$id running 0 starting 10.0.0.9 "; done ;;
      *".Log"*) echo "" ;;
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


# The retire script with a drain command. Each container's Docker health is the text of
# $STATE/ID (empty: no healthcheck); `docker exec` (the drain) makes it "unhealthy",
# unless $DRAIN is "fails" (exit 1), "hangs" (sleep) or "ignored" (it stays healthy).
DOCKER_FOR_RETIRE = """#!/bin/sh
echo "$*" >> "$CALLS"
case "$1" in
  inspect) cat "$STATE/$4" ;;
  exec)
    case "$DRAIN" in
      fails) exit 1 ;;
      hangs) sleep 30 ;;
      ignored) ;;
      *) echo unhealthy > "$STATE/$2" ;;
    esac ;;
esac
"""


def run_retire(tmp_path: Path, health: dict[str, str], drain: str = "", timeout: int = 2):
    bin_dir, state = tmp_path / "bin", tmp_path / "state"
    bin_dir.mkdir(parents=True, exist_ok=True)
    state.mkdir(exist_ok=True)
    (bin_dir / "docker").write_text(DOCKER_FOR_RETIRE)
    (bin_dir / "docker").chmod(0o755)
    for container, status in health.items():
        (state / container).write_text(status + "\n" if status else "")
    calls = tmp_path / "calls"
    environ = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "STATE": str(state), "CALLS": str(calls), "DRAIN": drain}
    argv = rollout.retire({10: ["old1"]}, 0, "touch /tmp/draining", ["new1"], timeout)
    result = subprocess.run(argv, env=environ, capture_output=True, text=True, timeout=60)
    return result, calls.read_text().splitlines() if calls.exists() else []


def stopped(calls: list[str]) -> bool:
    return "stop --time 10 old1" in calls and "rm old1" in calls


def test_a_drain_runs_in_the_old_container_once_docker_calls_the_new_one_healthy(tmp_path):
    result, calls = run_retire(tmp_path, {"new1": "healthy", "old1": "healthy"})
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert "exec old1 sh -c touch /tmp/draining" in calls and stopped(calls)


def test_containers_without_a_healthcheck_are_neither_waited_for_nor_drained(tmp_path):
    # A worker next to the web service: Docker never calls it healthy, and no proxy
    # routes to it by health.
    result, calls = run_retire(tmp_path, {"new1": "", "old1": ""})
    assert result.returncode == 0, result.stderr
    assert not any(call.startswith("exec") for call in calls) and stopped(calls)


def test_a_new_container_docker_never_calls_healthy_stops_nothing(tmp_path):
    result, calls = run_retire(tmp_path, {"new1": "starting", "old1": "healthy"})
    assert result.returncode == rollout.NOT_DRAINED
    assert "container new1 is not reported healthy by Docker: not draining the old ones" in result.stderr
    assert not any(call.startswith(("exec", "stop", "rm")) for call in calls)


def test_a_drain_that_fails_or_never_ends_is_said_and_the_old_container_stops_all_the_same(tmp_path):
    for how in ("fails", "hangs"):
        result, calls = run_retire(tmp_path / how, {"new1": "healthy", "old1": "healthy"}, drain=how)
        assert result.returncode == 0, result.stderr
        assert result.stderr == "warning: the drain command failed or did not end in old1: stopped without it\n"
        assert stopped(calls)


def test_an_old_container_still_healthy_after_its_drain_is_said_and_stopped(tmp_path):
    result, calls = run_retire(tmp_path, {"new1": "healthy", "old1": "healthy"}, drain="ignored")
    assert result.returncode == 0
    assert result.stderr == "warning: container old1 still reports healthy after the drain command: stopped as it is\n"
    assert stopped(calls)
