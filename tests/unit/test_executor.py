import io
import subprocess

import pytest
from invoke import Context, MockContext, Result

from tasks.errors import CommandFailed, ConfigError, HostError
from tasks.executor import Executor, PrintingExecutor, render


def test_render_quotes_every_word_and_the_folder():
    assert render(["git", "checkout", "main; touch /tmp/pwned"], cwd="/srv/my app") == ("cd '/srv/my app' && git checkout 'main; touch /tmp/pwned'")


def test_runs_rendered_command_and_returns_output():
    context = MockContext(run={"cd /srv && git rev-parse HEAD": Result(stdout="abc\n")})
    out = io.StringIO()
    result = Executor(context, host="web1", out=out).run(["git", "rev-parse", "HEAD"], cwd="/srv")
    assert result.stdout == "abc\n" and result.ok
    assert out.getvalue() == "$ cd /srv && git rev-parse HEAD\n"


def test_failure_names_command_host_and_exit_code():
    context = MockContext(run={"false": Result(exited=3, stderr="boom\n")})
    with pytest.raises(CommandFailed) as caught:
        Executor(context, host="web1", out=io.StringIO()).run(["false"], stream=False)
    assert str(caught.value) == "`false` failed on web1 with exit code 3: boom — run it by hand to see more"
    assert caught.value.exited == 3


def test_docker_not_running_is_diagnosed():
    stderr = "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?\n"
    context = MockContext(run={"docker compose ps": Result(exited=1, stderr=stderr)})
    with pytest.raises(HostError, match="Docker is not running on local"):
        Executor(context, out=io.StringIO()).run(["docker", "compose", "ps"])


def test_unknown_service_is_diagnosed():
    context = MockContext(run={"docker compose restart web": Result(exited=1, stderr="no such service: web\n")})
    with pytest.raises(ConfigError, match="no service 'web'"):
        Executor(context, out=io.StringIO()).run(["docker", "compose", "restart", "web"])


def test_unchecked_failure_is_returned():
    context = MockContext(run={"false": Result(exited=1)})
    assert not Executor(context, out=io.StringIO()).run(["false"], check=False).ok


def test_printing_executor_prints_and_runs_nothing(tmp_path):
    marker = tmp_path / "marker"
    out = io.StringIO()
    executor = PrintingExecutor(Context(), out=out)
    result = executor.run(["touch", str(marker)], cwd=str(tmp_path))
    assert result.ok and not marker.exists()
    assert out.getvalue() == f"cd {tmp_path} && touch {marker}\n"


def test_printing_executor_still_runs_probes(tmp_path):
    (tmp_path / "file").write_text("x")
    out = io.StringIO()
    result = PrintingExecutor(Context(), out=out).run(["ls"], cwd=str(tmp_path), probe=True)
    assert result.stdout.split() == ["file"]
    assert out.getvalue() == ""


def test_a_batch_of_probes_keeps_each_result_apart():
    from tasks.executor import batch_script, parse_batch

    commands = ["echo hi", "printf 'no newline'", "echo oops >&2; exit 3", "cd /no/such/folder && echo never"]
    out = subprocess.run(["sh", "-c", batch_script(commands)], capture_output=True, text=True, check=True).stdout
    results = parse_batch(out, commands)
    assert [(r.command, r.stdout, r.stderr, r.exited) for r in results[:3]] == [
        ("echo hi", "hi\n", "", 0),
        ("printf 'no newline'", "no newline", "", 0),
        ("echo oops >&2; exit 3", "", "oops\n", 3),
    ]
    assert results[3].exited != 0 and results[3].stdout == ""


def test_probe_batch_runs_one_command_on_the_host():
    context = Context()
    out = io.StringIO()
    executor = Executor(context, out=out)
    results = executor.probe_batch({"echo": (["echo", "a b"], None), "where": (["pwd"], "/tmp")})
    assert {key: r.stdout for key, r in results.items()} == {"echo": "a b\n", "where": "/tmp\n"}
    assert executor.commands_run == 1 and out.getvalue() == ""


def test_a_batch_runs_a_probe_asked_twice_once(tmp_path):
    counter = tmp_path / "runs"
    probe = (["sh", "-c", 'echo x >> "$0"; wc -l < "$0"', str(counter)], None)
    results = Executor(Context(), out=io.StringIO()).probe_batch({"first": probe, "b": (["echo", "b"], None), "again": probe})
    assert {key: r.stdout.strip() for key, r in results.items()} == {"first": "1", "b": "b", "again": "1"}
    assert counter.read_text() == "x\n"


def test_a_conditional_batch_runs_the_more_probes_only_when_its_test_passes():
    executor = Executor(Context(), out=io.StringIO())
    items, more = {"always": (["echo", "always"], None)}, {"more": (["echo", "more"], None), "err": (["sh", "-c", "echo err >&2; exit 3"], None)}
    test, results, further = executor.probe_batch_when((["sh", "-c", "printf 'a\\nb'"], None), items, more)
    assert (test.ok, test.stdout) == (True, "a\nb")
    assert {key: (r.stdout, r.stderr, r.exited) for key, r in {**results, **further}.items()} == {"always": ("always\n", "", 0), "more": ("more\n", "", 0), "err": ("", "err\n", 3)}
    test, results, further = executor.probe_batch_when((["sh", "-c", "echo listed; exit 1"], "/nonexistent"), items, more)
    assert not test.ok and test.stdout == "" and further is None
    test, results, further = executor.probe_batch_when((["sh", "-c", "echo listed; exit 1"], "/tmp"), items, more)
    assert (test.exited, test.stdout) == (1, "listed")
    assert {key: r.stdout for key, r in results.items()} == {"always": "always\n"} and further is None
    assert executor.commands_run == 3


def test_a_conditional_batch_runs_its_items_while_the_test_runs(tmp_path):
    """The test (origin's answer) waits for nothing: the items run meanwhile. Here the
    test passes only once an item has run; one after the other, it would fail."""
    flag = tmp_path / "flag"
    executor = Executor(Context(), out=io.StringIO())
    waits_for_flag = ["sh", "-c", 'for i in $(seq 50); do [ -e "$0" ] && exit 0; sleep 0.1; done; exit 1', str(flag)]
    item = (["touch", str(flag)], None)
    test, results, further = executor.probe_batch_when((waits_for_flag, None), {"touch": item}, {"touch again": item, "more": (["echo", "more"], None)})
    assert test.ok
    assert [(key, r.command.split()[0], r.exited) for key, r in {**results, **further}.items()] == [("touch", "touch", 0), ("touch again", "touch", 0), ("more", "echo", 0)]


def test_a_batch_runs_its_probes_at_once(tmp_path):
    from tasks.executor import batch_script, parse_batch

    # The first waits for what the second does: run one after the other, it never ends.
    flag = tmp_path / "flag"
    commands = [f"until [ -e {flag} ]; do sleep 0.01; done; echo seen", f"touch {flag}"]
    out = subprocess.run(["sh", "-c", batch_script(commands)], capture_output=True, text=True, check=True, timeout=20).stdout
    assert [(r.stdout, r.exited) for r in parse_batch(out, commands)] == [("seen\n", 0), ("", 0)]


def test_a_probe_that_never_answers_is_given_up_after_the_probe_timeout(monkeypatch, tmp_path):
    """The others' answers are kept; the silent one gets exit 124 and the mark, and the
    executor says which command did not answer: a hung engine's when it is Docker."""
    import time

    from tasks import executor as executor_module
    from tasks.executor import GAVE_UP, TIMED_OUT, batch_script, parse_batch

    monkeypatch.setattr(executor_module, "PROBE_TIMEOUT", 1)
    commands = ["echo fast", "sleep 30; echo never"]
    began = time.monotonic()
    out = subprocess.run(["sh", "-c", batch_script(commands)], capture_output=True, text=True, check=True, timeout=20).stdout
    assert time.monotonic() - began < 10
    fast, silent = parse_batch(out, commands)
    assert (fast.stdout, fast.exited) == ("fast\n", 0)
    assert (silent.stdout, silent.exited, silent.stderr) == ("", TIMED_OUT, GAVE_UP + "\n")

    hung_docker = tmp_path / "docker"
    hung_docker.write_text("#!/bin/sh\nsleep 30\n")
    hung_docker.chmod(0o755)
    executor = Executor(Context(), out=io.StringIO())
    with pytest.raises(HostError, match=r"the Docker Engine on local did not answer within 1s \(`\S+/docker version`\)"):
        executor.probe_batch({"fast": (["echo", "fast"], None), "docker": ([str(hung_docker), "version"], None)})
    with pytest.raises(HostError, match=r"`sleep 30` did not answer within 1s on local"):
        executor.probe_batch_when((["true"], None), {"fast": (["echo", "fast"], None)}, {"slow": (["sleep", "30"], None)})
    assert [r.stdout for r in executor.probe_batch({"a": (["echo", "a"], None), "sleep": (["sleep", "0.2"], None)}).values()] == ["a\n", ""]
    with pytest.raises(HostError, match=r"`sleep 30` did not answer within 1s on local"):
        executor.run(["sleep", "30"], probe=True, stream=False)


def test_a_stop_signal_abandons_an_interruptible_command_at_once():
    # A real SIGTERM to this process while a real `sleep` runs: the signal is only
    # noted, and the wait for the command sees the note, ends the command and raises.
    import os
    import signal
    import threading
    import time

    from tasks.executor import Stopped

    assert threading.current_thread() is threading.main_thread(), "signal handlers are installed from the main thread only"
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)  # outside the command: nothing happens
    try:
        threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGTERM)).start()
        began = time.monotonic()
        with pytest.raises(Stopped) as caught:
            Executor(Context(), out=io.StringIO()).run(["sleep", "30"], stream=False, interruptible=True)
        took = time.monotonic() - began
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert caught.value.signum == signal.SIGTERM
    assert took < 5, took
    assert signal.getsignal(signal.SIGTERM) is previous, "the handler is put back"


class _Transport:
    def __init__(self):
        self.active = True

    def is_active(self):
        return self.active


class _Connection(MockContext):
    """A MockContext with a transport, as Fabric's Connection has: closing it keeps the
    old transport object (as Fabric does); running on a closed one opens a new one."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.transport = _Transport()
        self.opened = 1

    def run(self, command, **kwargs):
        if not self.transport.is_active() and self.transport is self.closed_transport:
            self.transport, self.opened = _Transport(), self.opened + 1
        return super().run(command, **kwargs)

    closed_transport = None

    def close(self):
        self.transport.active = False
        self.closed_transport = self.transport


def test_a_connection_that_died_between_two_commands_ends_the_run_instead_of_reconnecting():
    from tasks.errors import ConnectionLost

    context = _Connection(run={"true": Result(), "git fetch": Result()}, repeat=True)
    executor = Executor(context, host="web1", out=io.StringIO())
    executor.run(["true"], stream=False)
    context.transport.active = False  # sshd gone while the run computed or slept
    with pytest.raises(ConnectionLost) as caught:
        executor.run(["git", "fetch"], stream=False)
    assert str(caught.value).startswith("the SSH connection to web1 was lost before `git fetch` (between two commands)")
    assert context.opened == 1, "no new connection for the run's own steps"
    # The cleanup that follows may connect again: the dead connection was seen and closed.
    assert executor.run(["true"], stream=False).ok and context.opened == 2


def test_a_bookkeeping_write_on_a_connection_that_died_unseen_fails_without_reconnecting():
    context = _Connection(run={"true": Result()}, repeat=True)
    executor = Executor(context, host="web1", out=io.StringIO())
    context.transport.active = False
    assert executor.start(["true"]).result().exited == -1
    assert context.opened == 1
