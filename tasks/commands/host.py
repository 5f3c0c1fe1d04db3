"""Plain shell commands on the server: files, the deploy lock, the journal, disk, HTTP.
Where a command needs more than one program, it is an `sh -c` script with its values
passed as positional arguments, never pasted into the script text."""

from __future__ import annotations

import shlex
from typing import Sequence


def in_sequence(*commands: Sequence[str]) -> list[str]:
    """Several commands in one round trip, each only if the one before succeeded."""
    if len(commands) == 1:
        return list(commands[0])
    return ["sh", "-c", " && ".join(shlex.join(argv) for argv in commands)]


def is_file(path: str) -> list[str]:
    return ["test", "-f", path]


def are_files(paths) -> list[str]:
    """Exit 0 when every one of `paths` is a file."""
    if len(paths) == 1:
        return is_file(paths[0])
    return ["sh", "-c", 'for f; do [ -f "$f" ] || exit 1; done', "sh", *paths]


def has_program(name: str) -> list[str]:
    return ["sh", "-c", 'command -v "$0" >/dev/null', name]


def free_disk(path: str) -> list[str]:
    # df needs an existing folder: walk up from a DEPLOY_PATH not created yet.
    return ["sh", "-c", 'd="$0"; while [ ! -d "$d" ]; do d=$(dirname "$d"); done; df -Pk "$d"', path]


# The SSH connection a command runs in: the nearest sshd ancestor of the shell (the
# per-connection `sshd: user@notty`, or `sshd-session` in OpenSSH 9.8+). It lives as
# long as the connection, so a lock that names it can later be told dead or alive.
_SSHD_OF_THIS_CONNECTION = 'p=$PPID; while [ "${p:-1}" -gt 1 ]; do case "$(cat /proc/$p/comm 2>/dev/null)" in sshd*) break;; esac; p=$(awk \'{print $4}\' /proc/$p/stat 2>/dev/null); done'


def take_lock(state_dir: str, lock_dir: str, info: Sequence[str]) -> list[str]:
    # mkdir is atomic: of two runs, exactly one creates the folder. The state folder
    # lives in .git and is made without -p, so a missing checkout is an error, not a
    # stray .git folder. The info is written aside and moved in, so a reader never sees
    # half of it: a folder without info means its taker died in between. When the info
    # cannot be written (a full disk), the folder goes again: left behind, it would
    # read as the lock of a run that died, and a full disk would pass for a dead run.
    script = (
        'l="$0"; { mkdir "$1" 2>/dev/null || [ -d "$1" ]; } && mkdir "$l" || exit 1; shift; '
        f"{_SSHD_OF_THIS_CONNECTION}; "
        '{ printf "%s\\n" "$@"; if [ "${p:-1}" -gt 1 ]; then '
        "printf 'sshd_pid=%s\\nsshd_start=%s\\n' \"$p\" \"$(awk '{print $22}' /proc/$p/stat)\"; fi; } "
        f'> "$l/info.new" && mv "$l/info.new" "$l/info" || {{ rm -f "$l/info.new"; rmdir "$l"; exit {LOCK_NOT_WRITTEN}; }}'
    )
    return ["sh", "-c", script, lock_dir, state_dir, *info]


# take_lock's exit code when the folder was made but its info could not be written.
LOCK_NOT_WRITTEN = 5


def read_lock(lock_dir: str) -> list[str]:
    """Exit 3: no lock. Otherwise the info lines (none when the folder has none), and
    `alive=1`/`alive=0` when the host can tell whether the taker's connection exists."""
    script = (
        '[ -d "$0" ] || exit 3; cat "$0/info" 2>/dev/null || exit 0; '
        'pid=$(sed -n "s/^sshd_pid=//p" "$0/info"); start=$(sed -n "s/^sshd_start=//p" "$0/info"); '
        '[ -n "$pid" ] && [ -d /proc/self ] || exit 0; '
        "now=$(awk '{print $22}' /proc/$pid/stat 2>/dev/null); "
        'if [ "$now" = "$start" ]; then echo alive=1; else echo alive=0; fi'
    )
    return ["sh", "-c", script, lock_dir]


def release_lock(lock_dir: str, token: str) -> list[str]:
    """Remove the lock only if it carries `token`. Exit 4: no lock; 3: another's."""
    script = '[ -d "$0" ] || exit 4; [ "$(sed -n "s/^token=//p" "$0/info" 2>/dev/null)" = "$1" ] || exit 3; rm -rf -- "$0"'
    return ["sh", "-c", script, lock_dir, token]


def break_lock(lock_dir: str) -> list[str]:
    return ["rm", "-rf", "--", lock_dir]


def write_journal(path: str, lock_dir: str, token: str, text: str) -> list[str]:
    """Replace the journal, but only while the lock is still this run's (exit 3: it is
    not, someone broke it)."""
    script = '[ "$(sed -n "s/^token=//p" "$1/info" 2>/dev/null)" = "$2" ] || exit 3; printf "%s\\n" "$3" > "$0.new" && mv "$0.new" "$0"'
    return ["sh", "-c", script, path, lock_dir, token, text]


def record_and_close(log: str, line: str, journal: str) -> list[str]:
    """Append the release log's line and remove the journal, in one step."""
    return ["sh", "-c", 'printf "%s\\n" "$1" >> "$0" && rm -f -- "$2"', log, line, journal]


def close_journal(journal: str, lock_dir: str, token: str, log: str = "", line: str = "") -> list[str]:
    """Append the run's line to the release log (when given), then remove the journal,
    unless the lock is another run's now (its journal, then): exit 3."""
    script = '[ -z "$3" ] || printf "%s\\n" "$4" >> "$3" || exit 1; [ ! -d "$1" ] || [ "$(sed -n "s/^token=//p" "$1/info" 2>/dev/null)" = "$2" ] || exit 3; rm -f -- "$0"'
    return ["sh", "-c", script, journal, lock_dir, token, log, line]


def remove_file(path: str) -> list[str]:
    return ["rm", "-f", "--", path]


def append_line(path: str, line: str) -> list[str]:
    return ["sh", "-c", 'mkdir -p "$(dirname "$0")" && printf "%s\\n" "$1" >> "$0"', path, line]


def read_file(path: str) -> list[str]:
    return ["cat", path]


def read_file_if_any(path: str) -> list[str]:
    """The file's text, or nothing (exit 0) when it does not exist."""
    return ["sh", "-c", '[ ! -e "$0" ] || cat "$0"', path]


def sleep(seconds: float) -> list[str]:
    return ["sleep", f"{seconds:g}"]


def wait_for_http(url: str, timeout: int, interval: float = 0.5) -> list[str]:
    """Poll `url` on the host until it answers 2xx (exit 0) or `timeout` seconds pass
    (exit 1); prints the last answer: `HTTP 200`, `HTTP 502`, or curl's complaint."""
    script = (
        'url="$0"; end=$(( $(date +%s) + $1 )); '
        "while :; do out=$(curl --silent --show-error --output /dev/null --write-out '%{http_code}' --max-time 5 \"$url\" 2>&1); "
        'code=$(printf "%s" "$out" | tail -c 3); '
        'case "$code" in 2[0-9][0-9]) echo "HTTP $code"; exit 0;; esac; '
        'if [ "$(date +%s)" -ge "$end" ]; then '
        'if [ "$code" = 000 ]; then printf "%s\\n" "$out" | head -n 1; else echo "HTTP $code"; fi; exit 1; fi; '
        'sleep "$2"; done'
    )
    return ["sh", "-c", script, url, str(timeout), f"{interval:g}"]


def http_status(url: str, timeout: int = 5) -> list[str]:
    return ["curl", "--silent", "--show-error", "--output", "/dev/null", "--write-out", "%{http_code}", "--max-time", str(timeout), url]


def make_dir(path: str) -> list[str]:
    return ["mkdir", "-p", "--", path]


def who_am_i() -> list[str]:
    return ["id", "-un"]


def is_dir(path: str) -> list[str]:
    return ["test", "-d", path]


def is_empty_dir(path: str) -> list[str]:
    """Exit 0 when `path` is a folder with nothing in it."""
    return ["sh", "-c", '[ -d "$0" ] && [ -z "$(ls -A -- "$0")" ]', path]


def listening_sockets() -> list[str]:
    """The kernel's table of TCP sockets (IPv4, then IPv6 where the host has it)."""
    return ["sh", "-c", "cat /proc/net/tcp; cat /proc/net/tcp6 2>/dev/null; exit 0"]


PUBLISHED_FORMAT = '{{.Label "com.docker.compose.project"}}\t{{.Names}}\t{{.Ports}}'


def published_by_containers() -> list[str]:
    """Every running container's compose project, name and published ports, a line each."""
    return ["docker", "ps", "--format", PUBLISHED_FORMAT]


def held_after(argv: Sequence[str], seconds: float) -> list[str]:
    """argv, then a sleep in the same shell, exiting as argv did (the fault drills)."""
    return ["sh", "-c", 'r=0; "$@" || r=$?; sleep ' + f"{seconds:g}" + '; exit "$r"', "drill", *argv]
