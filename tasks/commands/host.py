"""Plain shell commands on the server: files, the deploy lock, disk, HTTP. Where a
command needs more than one program, it is an `sh -c` script with its values passed
as positional arguments, never pasted into the script text."""

from __future__ import annotations

from typing import Sequence


def is_file(path: str) -> list[str]:
    return ["test", "-f", path]


def has_program(name: str) -> list[str]:
    return ["sh", "-c", 'command -v "$0" >/dev/null', name]


def free_disk(path: str) -> list[str]:
    # df needs an existing folder: walk up from a DEPLOY_PATH not created yet.
    return ["sh", "-c", 'd="$0"; while [ ! -d "$d" ]; do d=$(dirname "$d"); done; df -Pk "$d"', path]


def take_lock(state_dir: str, lock_dir: str, info: Sequence[str]) -> list[str]:
    # mkdir is atomic: of two deploys, exactly one creates the folder. The state folder
    # lives in .git and is made without -p, so a missing checkout is an error, not a
    # stray .git folder.
    script = '{ mkdir "$1" 2>/dev/null || [ -d "$1" ]; } && mkdir "$2" && shift 2 && printf "%s\\n" "$@" > "$0"'
    return ["sh", "-c", script, f"{lock_dir}/info", state_dir, lock_dir, *info]


def read_lock(lock_dir: str) -> list[str]:
    return ["cat", f"{lock_dir}/info"]


def drop_lock(lock_dir: str) -> list[str]:
    return ["rm", "-rf", "--", lock_dir]


def append_line(path: str, line: str) -> list[str]:
    return ["sh", "-c", 'mkdir -p "$(dirname "$0")" && printf "%s\\n" "$1" >> "$0"', path, line]


def read_file(path: str) -> list[str]:
    return ["cat", path]


def http_status(url: str, timeout: int = 5) -> list[str]:
    return ["curl", "--silent", "--show-error", "--output", "/dev/null", "--write-out", "%{http_code}", "--max-time", str(timeout), url]
