"""The only place that runs commands. An Executor takes argv lists from the builders,
renders them with shell quoting and runs them through an Invoke Context: a plain
Context runs locally, a Fabric Connection (also a Context) runs on a server. The
PrintingExecutor is the dry run: same calls, it prints instead of running (read-only
probes still run, so a dry run can show what it would do)."""

from __future__ import annotations

import dataclasses
import io
import re
import shlex
import signal
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Mapping, Sequence, TextIO, TypeVar

import paramiko
from invoke.exceptions import CommandTimedOut

from .commands.git import TIMED_OUT
from .errors import CommandFailed, ConfigError, ConnectionLost, DeployError, HostError

# A read-only command and the folder it runs in (None: no cd).
Probe = tuple[Sequence[str], str | None]
K = TypeVar("K")
J = TypeVar("J")

_DIAGNOSES = (
    ("Cannot connect to the Docker daemon", "Docker is not running on {host}", "start the Docker Engine (e.g. `systemctl start docker`) and try again"),
    ("permission denied while trying to connect to the Docker daemon", "the user on {host} may not use Docker", "add the user to the `docker` group and log in again"),
    ("is not a docker command", "Docker Compose v2 is not installed on {host}", "install the Compose v2 plugin so that `docker compose version` works"),
    ("unknown command: docker compose", "Docker Compose v2 is not installed on {host}", "install the Compose v2 plugin so that `docker compose version` works"),
    ("docker: command not found", "Docker is not installed on {host}", "install the Docker Engine and Compose v2"),
    ("docker: not found", "Docker is not installed on {host}", "install the Docker Engine and Compose v2"),
)

_NO_SUCH_SERVICE = re.compile(r"no such service: (?P<name>[^\s]+)")


def render(argv: Sequence[str], cwd: str | None = None) -> str:
    command = shlex.join(argv)
    return f"cd {shlex.quote(str(cwd))} && {command}" if cwd else command


@dataclass(frozen=True)
class Result:
    command: str
    stdout: str
    stderr: str
    exited: int
    # The dry run printed the command instead of running it: its answer is unknown.
    printed: bool = False
    # What errors call the command, when its text is a script nobody wants to read.
    label: str = ""

    @property
    def ok(self) -> bool:
        return self.exited == 0


STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143, signal.SIGHUP: 129}


class Stopped(KeyboardInterrupt):
    """The run was asked to stop: Ctrl-C (SIGINT), SIGTERM (a cancelled CI job, `kill`)
    or SIGHUP (a closed terminal). All three are handled alike: undo, unlock, record."""

    def __init__(self, signum: int = signal.SIGINT):
        super().__init__()
        self.signum = signum

    @property
    def signal_name(self) -> str:
        return "Ctrl-C" if self.signum == signal.SIGINT else signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        return EXIT_CODES.get(self.signum, 130)


class Interrupted(Stopped):
    """A stop signal during a server command. The command was let finish first: without
    a pty, Fabric would stop waiting while it goes on running on the server, after the
    deploy had already undone its steps and released the lock."""

    def __init__(self, result: "Result", signum: int = signal.SIGINT):
        super().__init__(signum)
        self.result = result


def _raise_stopped(signum, frame):
    raise Stopped(signum)


@contextmanager
def _on_stop_signals(handler):
    """`handler` for every stop signal while the block runs, the previous ones after.
    Signal handlers can be set from the main thread only: elsewhere, nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {signum: signal.signal(signum, handler) for signum in STOP_SIGNALS}
    try:
        yield
    finally:
        for signum, restored in previous.items():
            signal.signal(signum, restored)


@contextmanager
def stop_signals_raise():
    """For the length of a task: SIGTERM and SIGHUP stop it the way Ctrl-C does, with
    its cleanup, instead of killing the process on the spot."""
    with _on_stop_signals(_raise_stopped):
        yield


@contextmanager
def deferred_interrupts(command: str, host: str):
    pending: dict = {"interrupted": False}

    def on_stop(signum, frame):
        if pending["interrupted"]:
            raise Stopped(signum)
        pending["interrupted"] = True
        pending["signum"] = signum
        name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        again = "Ctrl-C again" if signum == signal.SIGINT else "a second signal"
        try:
            print(f"\ninterrupt ({name}): letting `{command}` finish on {host}, then stopping ({again} to stop waiting)", file=sys.stderr, flush=True)
        except OSError:
            pass  # a closed terminal (SIGHUP) has nowhere to print

    with _on_stop_signals(on_stop):
        yield pending


@contextmanager
def noted_interrupts():
    """For a command that is safe to abandon: a stop signal is only noted, and the wait
    for the command, which reads the note between polls, abandons it at once. Raising
    from the handler instead could land inside paramiko while it holds a lock of the
    transport (between acquiring it and its `try`), and every later command of the run
    (the cleanup, the release log's line) would wait for that lock forever."""
    noted: dict = {"interrupted": False}

    def on_stop(signum, frame):
        noted.setdefault("signum", signum)
        noted["interrupted"] = True

    with _on_stop_signals(on_stop):
        yield noted


# How often the wait for an abandonable command looks for a stop signal.
ABANDON_POLL = 0.1


def _tail(text: str, lines: int = 3) -> str:
    kept = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return " / ".join(kept)


class Executor:
    dry_run = False
    # Set for servers: see Interrupted.
    defer_interrupts = False
    # Set when several hosts run at once: no live output, failures quote their tail.
    quiet = False

    def __init__(self, context, host: str = "local", out: TextIO | None = None):
        self.context = context
        self.host = host
        self.out = out or sys.stdout
        self.commands_run = 0
        self.unreachable = ""
        # The transport this executor closed itself after a failure: the next command
        # may open a new connection (the cleanup does). Any other that died went
        # unseen, between two commands.
        self._dropped = None

    def run(
        self,
        argv: Sequence[str],
        *,
        cwd: str | None = None,
        probe: bool = False,
        stream: bool = True,
        check: bool = True,
        interactive: bool = False,
        todo: str = "",
        redact: bool = False,
        interruptible: bool = False,
        env: dict[str, str] | None = None,
        bookkeeping: bool = False,
        label: str = "",
        display: str = "",
        timeout: float | None = None,
    ) -> Result:
        """Run argv (in cwd). `probe` marks a read-only command; `stream` shows its output
        live; `check` raises a DeployError when it exits non-zero; `redact` keeps its output
        out of that error; `interruptible` lets a stop signal end the wait at once (for
        commands that are safe to abandon); `env` is for local commands only (over SSH it
        would show in the host's process list); `bookkeeping` marks composeship's own
        records (journal, release log), which a dry run does not show. `display`: what is
        printed instead of the command line (a program too long to read there). `timeout`:
        seconds after which Invoke kills the command and raises CommandTimedOut; a probe
        is bounded by PROBE_TIMEOUT unless told otherwise."""
        command = render(argv, cwd)
        if probe and timeout is None:
            timeout = PROBE_TIMEOUT
        stream = stream and not self.quiet
        result = self._execute(command, probe=probe, stream=stream, interactive=interactive, interruptible=interruptible, env=env, bookkeeping=bookkeeping, display=display, timeout=timeout)
        if label:
            result = dataclasses.replace(result, label=label)
        if check and not result.ok:
            raise self.failure(result, shown=stream, todo=todo, redact=redact)
        return result

    def _execute(
        self, command: str, *, probe: bool, stream: bool, interactive: bool, interruptible: bool = False, env=None, bookkeeping: bool = False, display: str = "", timeout: float | None = None
    ) -> Result:
        if stream:
            print(f"$ {display or command}", file=self.out, flush=True)
        self.commands_run += 1
        tty = interactive and sys.stdin.isatty()
        options = dict(hide=None if stream else "both", warn=True, in_stream=sys.stdin if interactive else False, pty=tty)
        if env:
            options["env"] = env
        if timeout:
            options["timeout"] = timeout
        try:
            if interruptible and not interactive:
                with noted_interrupts() as stop:
                    pending, raw = {}, self._run(command, options, stop=stop)
            elif self.defer_interrupts and not interactive:
                with deferred_interrupts(command, self.host) as pending:
                    raw = self._run(command, options)
            else:
                pending, raw = {}, self._run(command, options)
        except CommandTimedOut:
            if not probe:
                raise
            raise self.no_answer(command, timeout) from None
        result = Result(command, raw.stdout or "", raw.stderr or "", raw.exited)
        if pending.get("interrupted"):
            raise Interrupted(result, pending.get("signum", signal.SIGINT))
        if result.exited == -1 and self.lost_connection():
            raise self._lost(command, f"while `{command}` ran")
        return result

    def _run(self, command: str, options: dict, stop: dict | None = None):
        """Run and wait; with `stop` (see noted_interrupts), abandon the command as soon
        as a stop signal is noted, and raise Stopped."""
        if self.unreachable:
            # Reconnecting failed once already: fail at once instead of a timeout each.
            raise ConnectionLost(f"{self.host} is unreachable", f"check that {self.host} is up and reachable", command=command, host=self.host)
        if self.died_unseen():
            # The run must not go on over a new connection as if nothing happened: the
            # lock names the dead one, and `status` would tell others its run is gone.
            raise self._lost(command, f"before `{command}` (between two commands)", running="the last command")
        was_connected = self.connected()
        try:
            if stop is None:
                return self.context.run(command, **options)
            running = self.context.run(command, asynchronous=True, **options)
            while not stop["interrupted"]:
                if running.runner.process_is_finished:
                    return running.join()
                time.sleep(ABANDON_POLL)
            running.runner.kill()
            raise Stopped(stop["signum"])
        except (OSError, EOFError, paramiko.SSHException) as problem:
            reason = str(problem) or type(problem).__name__
            if was_connected:
                raise self._lost(command, f"while `{command}` ran ({reason})") from None
            # Connecting again failed: the host is gone for this run.
            self._drop()
            self.unreachable = "yes"
            raise ConnectionLost(f"cannot reach {self.host} to run `{command}` ({reason})", f"check that {self.host} is up and reachable", command=command, host=self.host) from None

    def _lost(self, command: str, when: str, running: str = "it") -> ConnectionLost:
        """The connection died: closed (the cleanup's commands open a new one), and the
        error that says what may still run on the host."""
        self._drop()
        return ConnectionLost(
            f"the SSH connection to {self.host} was lost {when}",
            f"{running} may still be running on {self.host}: look there (`docker ps`, `fab -H {self.host} status`) before you run anything else",
            command=command,
            host=self.host,
        )

    def _drop(self) -> None:
        """Close a connection that failed, so that the next command opens a new one
        instead of trying the dying transport again."""
        self._dropped = getattr(self.context, "transport", None)
        try:
            self.context.close()
        except Exception:  # noqa: BLE001 - it is being thrown away
            pass

    def connected(self) -> bool:
        transport = getattr(self.context, "transport", None)
        return transport is not None and transport.is_active()

    def died_unseen(self) -> bool:
        """Did the connection die since the last command, without this executor
        closing it? (Fabric would open a new one for the next command.)"""
        transport = getattr(self.context, "transport", None)
        return transport is not None and transport is not self._dropped and not transport.is_active()

    def lost_connection(self) -> bool:
        """A command that ended without an exit status because its connection died
        (Fabric reports exit code -1, as for a command killed by a signal; the
        transport notices its death a moment later). A local command never does."""
        transport = getattr(self.context, "transport", None)
        if transport is None:
            return False
        for _ in range(10):
            if not transport.is_active():
                return True
            time.sleep(0.05)
        return False

    def write_file(self, path: str, text: str, *, label: str = "") -> None:
        """Write `text` to `path` on the host, readable by its owner only, without the
        text ever being in a command line (the host's process list shows those) or on
        a command's input (which Invoke feeds a byte at a time): the file is created
        empty with mode 600, then filled over SFTP."""
        self.run(["sh", "-c", 'umask 077 && : > "$0"', path], stream=False, label=label or f"write {path}")
        put = getattr(self.context, "put", None)
        if put is None:  # a local context: this machine's own file
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(text)
            return
        put(io.BytesIO(text.encode()), remote=path)

    def start(self, argv: Sequence[str], *, cwd: str | None = None) -> "Pending":
        """Start one of composeship's own bookkeeping writes without waiting for it, on
        another channel of the same connection: the steps go on while it lands.
        `Pending.result()` waits."""
        command = render(argv, cwd)
        self.commands_run += 1
        if self.died_unseen():
            return Pending(command, done=Result(command, "", "the SSH connection was lost", -1))
        try:
            return Pending(command, promise=self.context.run(command, hide="both", warn=True, in_stream=False, asynchronous=True))
        except (OSError, EOFError, paramiko.SSHException) as problem:
            return Pending(command, done=Result(command, "", str(problem), -1))

    def probe_batch(self, items: Mapping[K, Probe]) -> dict[K, Result]:
        """Several read-only commands (argv, cwd) in one round trip; their unchecked
        results under the keys they were asked under."""
        commands = [render(argv, cwd) for argv, cwd in items.values()]
        result = self.run(["sh", "-c", batch_script(distinct(commands))], probe=True, stream=False, timeout=BATCH_TIMEOUT)
        return dict(zip(items, self._answered(_in_order(parse_batch(result.stdout, distinct(commands)), commands)), strict=True))

    def probe_batch_when(self, test: Probe, items: Mapping[K, Probe], more: Mapping[J, Probe]) -> tuple[Result, dict[K, Result], dict[J, Result] | None]:
        """`items` and `test` at once, then `more` too only when `test` exited 0: one round
        trip, and `test` (origin's answer, which may take a while) costs no wait of its
        own. Returns test's result, the items' results and more's (None: not asked)."""
        condition = render(*test)
        asked, maybe = [render(argv, cwd) for argv, cwd in items.values()], [render(argv, cwd) for argv, cwd in more.values()]
        always = distinct(asked)
        extra = [command for command in distinct(maybe) if command not in always]
        script = "\n".join(
            [
                "t=$(mktemp -d) || exit 1",
                *_launch(always),
                f'out=$( ( {condition} ) 2>/dev/null </dev/null ); rc=$?; printf "%s\\n{TEST_MARK} %s\\n" "$out" "$rc"',
                'if [ "$rc" = 0 ]; then',
                *_launch(extra, len(always)),
                _collect(len(always) + len(extra)),
                "else",
                _collect(len(always)),
                "fi",
                'rm -rf "$t"',
            ]
        )
        result = self.run(["sh", "-c", script], probe=True, stream=False, timeout=BATCH_TIMEOUT)
        listed, _, rest = result.stdout.partition(f"{TEST_MARK} ")
        code, _, batch = rest.partition("\n")
        passed = code.strip() == "0"
        results = self._answered(_in_order(parse_batch(batch, always + (extra if passed else [])), asked + (maybe if passed else [])))
        found = dict(zip(items, results[: len(asked)], strict=True))
        further = dict(zip(more, results[len(asked) :], strict=True)) if passed else None
        return Result(condition, listed.rstrip("\n"), "", int(code.strip() or 1)), found, further

    def _answered(self, results: list[Result]) -> list[Result]:
        """The results, unless a probe never answered (see _collect)."""
        silent = [r for r in results if r.exited == TIMED_OUT and GAVE_UP in r.stderr]
        if not silent:
            return results
        raise self.no_answer(next((r.command for r in silent if _RUNS_DOCKER.search(r.command)), silent[0].command), PROBE_TIMEOUT)

    def no_answer(self, command: str, seconds: float) -> HostError:
        if _RUNS_DOCKER.search(command):
            return HostError(
                f"the Docker Engine on {self.host} did not answer within {seconds:g}s (`{command}`)",
                f"it may be hung: look at `systemctl status docker` and `journalctl -u docker` on {self.host}, restart it if need be, then run this again",
            )
        return HostError(f"`{command}` did not answer within {seconds:g}s on {self.host}", f"look at what holds it up on {self.host}, then run this again")

    def failure(self, result: Result, *, shown: bool, todo: str = "", redact: bool = False) -> CommandFailed:
        output = result.stderr + result.stdout
        for needle, what, advice in _DIAGNOSES:
            if needle in output:
                return HostError(what.format(host=self.host), advice)
        unknown = _NO_SUCH_SERVICE.search(output)
        if unknown:
            return ConfigError(
                f"the compose file has no service {unknown['name']!r} (on {self.host})",
                "check DEPLOY_DJANGO_SERVICE and the service names you passed against `docker compose config --services`",
            )
        what = f"`{result.label or result.command}` failed on {self.host} with exit code {result.exited}"
        # Streamed output is on screen already: its last line (usually the exception) is enough.
        tail = "" if redact else _tail(result.stderr or result.stdout, 1 if shown else 3)
        if tail:
            what += f": {tail}"
        return CommandFailed(
            what,
            todo or ("see its output above" if shown else "run it by hand to see more"),
            command=result.command,
            exited=result.exited,
            host=self.host,
            stdout=result.stdout,
            stderr=result.stderr,
        )


@dataclass
class Pending:
    """A command started by `Executor.start`."""

    command: str
    promise: object = None
    done: Result | None = None

    def result(self) -> Result:
        """Wait for it. A connection that died meanwhile shows as exit code -1: the
        command that runs next finds out and says so."""
        if self.done is None:
            try:
                raw = self.promise.join()
                self.done = Result(self.command, raw.stdout or "", raw.stderr or "", raw.exited)
            except Exception as problem:  # noqa: BLE001 - reported as a failed result
                self.done = Result(self.command, "", str(problem) or type(problem).__name__, -1)
        return self.done


def _in_order(results: list[Result], commands: Sequence[str]) -> list[Result]:
    by_command = {result.command: result for result in results}
    return [by_command[command] for command in commands]


BATCH_MARK = "@@composeship-batch@@"
TEST_MARK = "@@composeship-test@@"
# A read-only probe takes seconds; one that has not answered after this long (a hung
# Docker Engine) never will, and would hold the run and every lock it has.
PROBE_TIMEOUT = 30
# A batch's own watchdog gives up on a silent probe first, keeping the others' answers;
# this bounds the batch itself (probe_batch_when may wait for its test, then the rest).
BATCH_TIMEOUT = 3 * PROBE_TIMEOUT
GAVE_UP = "composeship: no answer in time"
_RUNS_DOCKER = re.compile(r"(^|[\s/])docker\s")


def batch_script(commands: Sequence[str]) -> str:
    """One sh script that runs the (rendered) read-only commands, all at once since none
    changes what another reads, keeping apart each one's exit code, stdout and stderr:
    several probes cost one round trip and the time of the slowest."""
    return "\n".join(["t=$(mktemp -d) || exit 1", *_launch(commands), _collect(len(commands)), 'rm -rf "$t"'])


def _launch(commands: Sequence[str], first: int = 0) -> list[str]:
    """Start each command in the background, its outputs and exit code in files of $t,
    its process in $p."""
    return [f'{{ ( {command} ) >"$t/{index}.out" 2>"$t/{index}.err" </dev/null; echo $? >"$t/{index}.rc"; }} & p="$p $!"' for index, command in enumerate(commands, first)]


def _collect(count: int) -> str:
    """Wait for the started commands, at most PROBE_TIMEOUT seconds: a watchdog then
    stops waiting for those still running (a hung Docker Engine answers nothing, ever)
    and gives each exit code TIMED_OUT and GAVE_UP on stderr. Then print each one's
    exit code, stdout and stderr between marks, in order."""
    numbers = " ".join(str(index) for index in range(count))
    watchdog = (
        f"( trap 'kill $s 2>/dev/null; exit 0' TERM; sleep {PROBE_TIMEOUT} & s=$!; wait $s; "
        f'for i in {numbers}; do [ -e "$t/$i.rc" ] || {{ echo "{GAVE_UP}" >"$t/$i.err"; echo {TIMED_OUT} >"$t/$i.rc"; }}; done; kill $p 2>/dev/null ) >/dev/null 2>&1 & w=$!'
    )
    # A newline before each mark: output without a final newline stays apart from it.
    return "\n".join(
        [
            watchdog,
            "wait $p",
            "kill $w 2>/dev/null; wait $w",
            f'for i in {numbers}; do printf "\\n{BATCH_MARK} %s\\n" "$(cat "$t/$i.rc")"; cat "$t/$i.out"; printf "\\n{BATCH_MARK}\\n"; cat "$t/$i.err"; done',
        ]
    )


def distinct(commands: Sequence[str]) -> list[str]:
    """Each command once: a batch need not run the same probe twice."""
    return list(dict.fromkeys(commands))


def parse_batch(stdout: str, commands: Sequence[str]) -> list[Result]:
    sections = stdout.split(f"\n{BATCH_MARK}")[1:]
    if len(sections) != 2 * len(commands):
        raise ValueError(f"expected {len(commands)} results from the batch, got {len(sections) // 2}")
    results = []
    for index, command in enumerate(commands):
        head, _, out = sections[2 * index].partition("\n")
        err = sections[2 * index + 1].partition("\n")[2]
        results.append(Result(command, out, err, int(head.strip() or 1)))
    return results


class PrintingExecutor(Executor):
    """Dry run: prints every command that would change something; probes still run."""

    dry_run = True

    def write_file(self, path: str, text: str, *, label: str = "") -> None:
        print(f"write {path} ({len(text.encode())} bytes, mode 600, over SFTP)", file=self.out, flush=True)

    def start(self, argv: Sequence[str], *, cwd: str | None = None) -> Pending:
        """Bookkeeping, which a dry run neither writes nor shows."""
        command = render(argv, cwd)
        return Pending(command, done=Result(command, "", "", 0, printed=True))

    def _execute(
        self, command: str, *, probe: bool, stream: bool, interactive: bool, interruptible: bool = False, env=None, bookkeeping: bool = False, display: str = "", timeout: float | None = None
    ) -> Result:
        if bookkeeping:
            return Result(command, "", "", 0, printed=True)
        if probe:
            return super()._execute(command, probe=True, stream=False, interactive=False)
        shown = " ".join(f"{name}={shlex.quote(value)}" for name, value in (env or {}).items())
        command_shown = display or command
        print(f"{shown} {command_shown}" if shown else command_shown, file=self.out, flush=True)
        return Result(command, "", "", 0, printed=True)


def describe(problem: BaseException) -> str:
    if isinstance(problem, Stopped):
        return f"interrupted by {problem.signal_name}"
    if isinstance(problem, DeployError):
        return problem.what
    if isinstance(problem, KeyboardInterrupt):
        return "interrupted by Ctrl-C"
    return str(problem) or type(problem).__name__


def stopped(problem: BaseException) -> bool:
    return isinstance(problem, (KeyboardInterrupt, ConnectionLost))
