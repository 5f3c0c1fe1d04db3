"""Command lines of a rollout: new containers of a service started beside the old ones,
waited for until the app answers in each of them, then the old ones stopped gracefully
and removed — or, when the new ones never become ready, the new ones removed."""

from __future__ import annotations

from typing import Sequence

from .compose import ComposeProject, compose

# `index`, not `.State.Health`: the docker CLI formats a container as a map, and a
# missing key (no healthcheck) would fail the whole template.
_HEALTH = '{{with index .State "Health"}}{{.Status}}{{end}}'
_STATE = '{{.Id}} {{.State.Status}} {{.State.ExitCode}} {{with index .State "Health"}}{{.Status}}{{else}}-{{end}} {{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}'
# The project's containers (one-off ones aside), each as `ID SERVICE`: one listing for
# every service of the rollout.
_LIST = 'docker ps --all --no-trunc --filter "label=com.docker.compose.project=$p" --filter label=com.docker.compose.oneoff=False --format \'{{.ID}} {{.Label "com.docker.compose.service"}}\''


def scale_up(project: ComposeProject, counts: dict[str, int]) -> list[str]:
    """Start more containers of each service from its current image, leaving the
    running ones untouched (`--no-recreate`: dependencies that run stay as they are).
    Never `--no-deps`: Compose then hashes the service without its `depends_on`, and
    every later `up` (a person's, or Compose's dry run) would recreate the containers,
    and the proxy that depends on them."""
    flags = [word for service, count in sorted(counts.items()) for word in ("--scale", f"{service}={count}")]
    return compose(project, "up", "-d", "--no-recreate", "--no-build", *flags, *sorted(counts))


def wait_ready(project_name: str, waits: Sequence[tuple], timeout: int, interval: float = 0.25) -> list[str]:
    """Wait until every new container runs and answers. `waits`: per service, the ids
    of its old containers, its healthcheck as a shell command ("" for none) and, for a
    web service without one, (port, path, Host header) to ask the app itself (None
    otherwise). A container is ready when Docker reports it healthy, or its
    healthcheck, run in it with `docker exec` every `interval` instead of at the
    healthcheck's own pace, succeeds; a web service's when the app answers on the
    container's own address with any status below 500 (curl on the host: the image
    may have no curl); any other, when it runs. Prints `new SERVICE ID` for each new
    container; exit 0 when all are ready; else, per container that is not, its state,
    its healthcheck's last output (Docker's, or the rollout's own run of it before Docker
    has checked) and its last log lines on stderr, and exit 1."""
    script = (
        'p="$1" end=$(( $(date +%s) + $2 )) pause="$3"; shift 3; '
        't=$(mktemp -d) || exit 1; trap \'rm -rf "$t"\' EXIT; mkdir "$t/c" "$t/a" "$t/o"; '
        f"all=$({_LIST}) || exit 1; "
        'while [ "$#" -gt 0 ]; do s="$1" n="$2"; shift 2; old=" "; '
        'while [ "$n" -gt 0 ]; do old="$old$1 "; shift; n=$((n - 1)); done; check="$1" answer="$2"; shift 2; '
        'for id in $(printf "%s\\n" "$all" | awk -v s="$s" \'$2 == s { print $1 }\'); do '
        'case "$old" in *" $id "*) continue;; esac; echo "new $s $id"; printf "%s" "$check" > "$t/c/$id"; printf "%s\\n" "$answer" > "$t/a/$id"; done; done; '
        '[ -n "$(ls "$t/c")" ] || { echo "no new container was started" >&2; exit 1; }; '
        'address() { a=$(docker inspect --format \'{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}\' "$1" 2>/dev/null); echo "${a%% *}"; }; '
        'answers() { read -r port path host < "$t/a/$1"; [ -n "$port" ] || return 0; ip="$2"; [ -n "$ip" ] || return 1; '
        'code=$(curl -s -o /dev/null -w "%{http_code}" --max-time 2 -H "Host: $host" "http://$ip:$port$path"); '
        'echo "$code" > "$t/a/$1.last"; [ "${code:-000}" != 000 ] && [ "$code" -lt 500 ]; }; '
        # Each round reads every new container at once: id, state, exit code, Docker's
        # health ("-": no healthcheck) and its first address.
        f'inspect() {{ docker inspect --format \'{_STATE}\' $(ls "$t/c") > "$t/state" 2>/dev/null; }}; '
        # A one-off service that ran to completion (exit code 0) is as ready as it gets.
        'ready() { line=$(grep "^$1 " "$t/state"); [ -n "$line" ] || return 1; set -- $line; '
        '[ "$2 $3" = "exited 0" ] && return 0; [ "$2" = running ] || return 1; [ "$4" = healthy ] && return 0; '
        # A healthcheck that hangs is cut off (at most 30 s, and never past the end).
        'c=$(cat "$t/c/$1"); if [ -n "$c" ]; then l=$(( end - $(date +%s) )); [ "$l" -gt 1 ] || l=1; [ "$l" -lt 30 ] || l=30; '
        'timeout "$l" docker exec "$1" sh -c "$c" > "$t/o/$1" 2>&1 || return 1; fi; answers "$1" "$5"; }; '
        'while :; do inspect; waiting=""; for id in $(ls "$t/c"); do ready "$id" || waiting="$waiting $id"; done; '
        '[ -n "$waiting" ] || exit 0; '
        'if [ "$(date +%s)" -ge "$end" ]; then for id in $waiting; do '
        'echo "container $(echo "$id" | cut -c1-12): $(docker inspect --format \'{{.State.Status}}{{with index .State "Health"}}, {{.Status}}{{end}}\' "$id" 2>&1)" >&2; '
        # Docker's own healthcheck log, or, before Docker's first check (a long
        # interval), what the check said when the rollout ran it.
        'h=$(docker inspect --format \'{{with index .State "Health"}}{{range .Log}}{{.Output}}{{end}}{{end}}\' "$id" 2>/dev/null | grep . | tail -n 3); '
        '[ -n "$h" ] || h=$(grep . "$t/o/$id" 2>/dev/null | tail -n 3); [ -z "$h" ] || printf "%s\\n" "$h" | sed "s/^/  health: /" >&2; '
        'if [ -s "$t/a/$id.last" ]; then read -r port path host < "$t/a/$id"; echo "  app: http://$(address "$id"):$port$path answered $(cat "$t/a/$id.last") (000: nothing)" >&2; fi; '
        "docker logs --tail 5 \"$id\" 2>&1 | sed 's/^/  log: /' >&2; done; exit 1; fi; "
        'sleep "$pause"; done'
    )
    words: list[str] = []
    for service, old_ids, check, *rest in waits:
        answer = rest[0] if rest else None
        words += [service, str(len(old_ids)), *old_ids, check, " ".join(str(part) for part in answer) if answer else ""]
    return ["sh", "-c", script, "sh", project_name, str(timeout), f"{interval:g}", *words]


# The retire script's exit code when the new containers never got Docker's "healthy",
# which a drain needs first: nothing was drained or stopped.
NOT_DRAINED = 3


def retire(stops: dict[int, Sequence[str]], settle: float, drain: str = "", new: Sequence[str] = (), timeout: int = 60) -> list[str]:
    """Take old containers out of service (grace seconds -> container ids: each group
    gets its `stop_grace_period`). With a drain command (a proxy that routes by Docker
    health), first wait until Docker reports every `new` container that has a
    healthcheck healthy (else exit NOT_DRAINED, nothing changed), then run the command
    in each old container that has one and wait until Docker no longer reports it
    healthy. A drain command that fails or does not end in time, or a container still
    healthy after it, is said on stderr (`warning: ...`) and the container is stopped
    all the same: the new ones answer, and that is what a rollout without a drain does.
    Then wait `settle` seconds for the proxy to catch up, stop all groups at once and
    remove them. Every wait ends by `timeout` seconds from the start."""
    health = f"docker inspect --format '{_HEALTH}'"
    script = (
        'settle="$1" drain="$2" end=$(( $(date +%s) + $3 )) n="$4"; shift 4; new=""; '
        'while [ "$n" -gt 0 ]; do new="$new $1"; shift; n=$((n - 1)); done; '
        'groups="$*"; old=""; while [ "$#" -gt 0 ]; do n="$2"; shift 2; '
        'while [ "$n" -gt 0 ]; do old="$old $1"; shift; n=$((n - 1)); done; done; '
        f'health() {{ {health} "$1" 2>/dev/null; }}; short() {{ echo "$1" | cut -c1-12; }}; '
        'if [ -n "$drain" ]; then '
        # Only what has a healthcheck can be reported healthy, or be drained by it.
        'for id in $new; do [ -n "$(health "$id")" ] || continue; until [ "$(health "$id")" = healthy ]; do '
        f'[ "$(date +%s)" -lt "$end" ] || {{ echo "container $(short "$id") is not reported healthy by Docker: not draining the old ones" >&2; exit {NOT_DRAINED}; }}; sleep 0.25; done; done; '
        'drained=""; for id in $old; do [ -n "$(health "$id")" ] || continue; l=$(( end - $(date +%s) )); [ "$l" -gt 1 ] || l=1; '
        'if timeout "$l" docker exec "$id" sh -c "$drain"; then drained="$drained $id"; '
        'else echo "warning: the drain command failed or did not end in $(short "$id"): stopped without it" >&2; fi; done; '
        'for id in $drained; do while [ "$(health "$id")" = healthy ]; do '
        'if [ "$(date +%s)" -ge "$end" ]; then echo "warning: container $(short "$id") still reports healthy after the drain command: stopped as it is" >&2; break; fi; sleep 0.25; done; done; '
        "fi; "
        'sleep "$settle"; set -- $groups; '
        'pids=""; all=""; while [ "$#" -gt 0 ]; do grace="$1" n="$2"; shift 2; ids=""; '
        'while [ "$n" -gt 0 ]; do ids="$ids $1"; shift; n=$((n - 1)); done; '
        'docker stop --time "$grace" $ids >/dev/null & pids="$pids $!"; all="$all $ids"; done; '
        'status=0; for pid in $pids; do wait "$pid" || status=1; done; '
        "docker rm $all >/dev/null || status=1; exit $status"
    )
    words = [word for grace, ids in sorted(stops.items()) for word in (str(grace), str(len(ids)), *ids)]
    return ["sh", "-c", script, "sh", f"{settle:g}", drain, str(timeout), str(len(new)), *new, *words]
