"""git command lines, run in the checkout on the server."""

from __future__ import annotations


def init(path: str) -> list[str]:
    return ["git", "init", "-q", "--", path]


def add_origin(url: str) -> list[str]:
    # Idempotent, so that a first deploy that failed half-way can simply run again.
    return ["sh", "-c", 'git remote get-url origin >/dev/null 2>&1 || git remote add origin "$0"', url]


# An origin that stops answering (a hung server, a link gone dead without a reset) would
# hold the run, and every host it has locked, for good. A list of refs is small: past
# LIST_TIMEOUT nothing more is learnt by waiting. A fetch may be big (a first clone).
LIST_TIMEOUT = 30
FETCH_TIMEOUT = 900
TIMED_OUT = 124  # timeout(1)'s exit status


def fetch() -> list[str]:
    return ["timeout", str(FETCH_TIMEOUT), "git", "fetch", "--quiet", "--prune", "--tags", "--force", "origin"]


def ls_remote_and_presence(ref: str, remote: str = "origin") -> list[str]:
    """`git ls-remote REMOTE REF`, then for each commit listed that this repository
    has already, a line `<sha>\there locally` (no ref name holds a space)."""
    script = (
        f'out=$(timeout {LIST_TIMEOUT} git ls-remote "$0" "$1") || exit $?; printf "%s\\n" "$out"; '
        'printf "%s\\n" "$out" | while read -r sha name; do '
        'git cat-file -e "$sha^{commit}" 2>/dev/null && printf "%s\\there locally\\n" "$sha"; done; exit 0'
    )
    return ["sh", "-c", script, remote, ref]


def ls_remote_naming_head(ref: str, remote: str = "origin") -> list[str]:
    """`git ls-remote REMOTE REF`; exit 0 only when the checkout's HEAD is among the
    commits listed (the ref may name what is checked out)."""
    script = (
        f'out=$(timeout {LIST_TIMEOUT} git ls-remote "$0" "$1") || {{ [ "$?" = {TIMED_OUT} ] && exit {TIMED_OUT}; exit 2; }}; printf "%s\\n" "$out"; '
        'head=$(git rev-parse --verify --quiet "HEAD^{commit}") || exit 1; case "$out" in *"$head"*) exit 0;; esac; exit 1'
    )
    return ["sh", "-c", script, remote, ref]


def resolve(candidate: str) -> list[str]:
    return ["git", "rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}"]


def head() -> list[str]:
    return ["git", "rev-parse", "--verify", "--quiet", "HEAD^{commit}"]


def checkout(revision: str) -> list[str]:
    # Without --force: a dirty tree makes git refuse instead of losing changes.
    return ["git", "checkout", "--quiet", "--detach", revision]


def status() -> list[str]:
    return ["git", "status", "--porcelain", "--untracked-files=normal"]


def list_file(revision: str, *paths: str) -> list[str]:
    return ["git", "ls-tree", "--name-only", revision, "--", *paths]


def migration_files() -> list[str]:
    return ["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", "*/migrations/*.py", "migrations/*.py"]


def files_at(revision: str) -> list[str]:
    return ["git", "ls-tree", "-r", "--name-only", revision]


MIGRATION_PATHS = (":(glob)**/migrations/*.py",)


def migration_changes(previous: str, revision: str) -> list[str]:
    """Migration files added (A), modified (M) or deleted (D) between two revisions."""
    return ["git", "diff", "--name-status", "--no-renames", previous, revision, "--", *MIGRATION_PATHS]


def migration_changes_since(candidates: list[str]) -> list[str]:
    """In a local work tree: the first of `candidates` that names a commit (printed as
    `since NAME`), then the migration files added, modified or deleted between it and
    the work tree, uncommitted and untracked ones included, relative to the current
    folder, as name-status lines. Exit 3 outside a git work tree, 4 when no candidate
    names a commit."""
    script = (
        "git rev-parse --is-inside-work-tree >/dev/null 2>&1 || exit 3; "
        'for ref in "$@"; do git rev-parse --verify --quiet "$ref^{commit}" >/dev/null || continue; '
        'echo "since $ref"; git diff --name-status --no-renames --relative "$ref" -- "$0" || exit 1; '
        'git ls-files --others --exclude-standard -- "$0" | sed "s/^/A\t/"; exit 0; done; exit 4'
    )
    return ["sh", "-c", script, MIGRATION_PATHS[0], *candidates]
