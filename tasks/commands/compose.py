"""`docker compose` command lines for one compose project."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Iterable, Sequence

from .images import IMAGE_FORMAT, REVISION_LABEL


@dataclass(frozen=True)
class ComposeProject:
    file: str
    django_service: str = "django"
    project_name: str | None = None
    # On a swarm: a compose file naming the stack's overlay network as the default one,
    # so that a one-off container joins it and reaches the stack's database.
    network_file: str | None = None

    @classmethod
    def from_settings(cls, settings) -> "ComposeProject":
        network_file = f"{settings.path}/.git/composeship/swarm-network.yml" if settings.engine == "swarm" and settings.path else None
        return cls(settings.compose_file, settings.django_service, settings.compose_project, network_file)


def compose(project: ComposeProject, *args: str) -> list[str]:
    argv = ["docker", "compose"]
    if project.project_name:
        argv += ["-p", project.project_name]
    for file in project.file.split(":"):
        argv += ["-f", file]
    return argv + list(args)


def one_off(project: ComposeProject, *args: str) -> list[str]:
    """`run`: a one-off container. On a swarm, on the stack's network, and without
    starting dependencies (the stack's tasks are those)."""
    if project.network_file:
        return compose(dataclasses.replace(project, file=f"{project.file}:{project.network_file}"), "run", "--no-deps", *args)
    return compose(project, "run", *args)


def manage(project: ComposeProject, *args: str) -> list[str]:
    """manage.py in a one-off container of the django service."""
    return one_off(project, "--rm", project.django_service, "python", "manage.py", *args)


def makemigrations(project: ComposeProject, app: str | None = None, check: bool = False) -> list[str]:
    # --check alone still writes files on Django < 4.2; --dry-run keeps it read-only.
    return manage(project, "makemigrations", *([app] if app else []), *(["--check", "--dry-run"] if check else []))


def lock_timeout_environment(lock_timeout: str | None) -> list[str]:
    """`lock_timeout` reaches PostgreSQL through libpq's PGOPTIONS, which psycopg reads
    when it connects: the migration's session fails instead of waiting longer for a lock."""
    return ["-e", f"PGOPTIONS=-c lock_timeout={lock_timeout}"] if lock_timeout else []


# On the one-off containers that migrate for composeship: the next run finds one that
# outlived its run (a lost connection) by it, whatever the command looks like.
MIGRATE_LABEL = "composeship.migrate"
MIGRATE_MARK = ["--label", f"{MIGRATE_LABEL}=true"]


def migrate(project: ComposeProject, app: str | None = None, target: str | None = None, noinput: bool = False, lock_timeout: str | None = None, marked: bool = False) -> list[str]:
    args = [arg for arg in (app, target) if arg]
    mark = MIGRATE_MARK if marked else []
    return one_off(project, *mark, *lock_timeout_environment(lock_timeout), "--rm", project.django_service, "python", "manage.py", "migrate", *args, *(["--noinput"] if noinput else []))


def manage_shell(project: ComposeProject, script: str, environment: Sequence[str] = ()) -> list[str]:
    """A Python program run by `manage.py shell -c` in a one-off container."""
    return one_off(project, *environment, "--rm", project.django_service, "python", "manage.py", "shell", "-c", script)


def showmigrations(project: ComposeProject, plan: bool = False) -> list[str]:
    return manage(project, "showmigrations", *(["--plan"] if plan else []))


def up(project: ComposeProject, services: Sequence[str] = (), no_deps: bool = False, no_build: bool = False) -> list[str]:
    flags = ["-d"] + (["--no-deps"] if no_deps else []) + (["--no-build"] if no_build else [])
    return compose(project, "up", *flags, *services)


def down(project: ComposeProject) -> list[str]:
    return compose(project, "down")


def restart(project: ComposeProject, services: Iterable[str] = ()) -> list[str]:
    return compose(project, "restart", *services)


def build(project: ComposeProject, services: Sequence[str] = ()) -> list[str]:
    return compose(project, "build", *services)


def build_labelled(project: ComposeProject, services: Sequence[str], revision: str, override_path: str, also: Sequence[str] = ()) -> list[str]:
    """Build `services` with the image label that ties each image to `revision`: only
    images composeship built from a clean checkout of a known commit carry it. The
    label comes from a small compose file, written on the host and given after the
    project's own, which Compose merges in."""
    argv = compose(project, "-f", override_path, "build", *services, *also)
    script = (
        'f="$1" r="$2" n="$3"; shift 3; { echo services:; while [ "$n" -gt 0 ]; do '
        f'printf \'  %s:\\n    build:\\n      labels:\\n        {REVISION_LABEL}: "%s"\\n\' "$1" "$r"; '
        'shift; n=$((n - 1)); done; } > "$f" && exec "$@"'
    )
    return ["sh", "-c", script, "sh", override_path, revision, str(len(services)), *services, *argv]


def logs(project: ComposeProject, services: Sequence[str] = (), follow: bool = False, since: str | None = None, tail: int | None = None) -> list[str]:
    flags = (["--follow"] if follow else []) + (["--since", since] if since else []) + (["--tail", str(tail)] if tail is not None else [])
    return compose(project, "logs", *flags, *services)


def config_services(project: ComposeProject) -> list[str]:
    return compose(project, "config", "--services")


CONTAINER_FORMAT = '{"kind":"container","id":{{json .Id}},"name":{{json .Name}},"image":{{json .Image}},"state":{{json .State}},"labels":{{json .Config.Labels}},"cmd":{{json .Config.Cmd}}}'


# Given the container ids in $ids: each container, then each image they run, as JSON lines.
_INSPECT_IDS = (
    '[ -n "$ids" ] || exit 0; out=$(docker inspect --format "{{.Image}} $c" $ids) || exit 1; printf "%s\\n" "$out" | cut -d" " -f2-; '
    'docker image inspect --format "$i" $(printf "%s\\n" "$out" | cut -d" " -f1 | sort -u) 2>/dev/null; exit 0'
)


def containers_and_images(project: ComposeProject) -> list[str]:
    """Every container of the project (one-off ones too, any state) with the id of the
    image it runs, then each of those images with its labels: one JSON object a line."""
    script = 'c="$1" i="$2"; shift 2; ids=$("$@" ps --all --quiet) || exit 1; ' + _INSPECT_IDS
    return ["sh", "-c", script, "sh", CONTAINER_FORMAT, IMAGE_FORMAT, *compose(project)]


def labelled_containers_and_images(project_name: str) -> list[str]:
    """As `containers_and_images`, found by Compose's project label instead of through
    Compose, which reads the compose file first (0.2 s): for a read in the middle of a
    deploy, when the project's name is known. No compose file needed either."""
    script = 'c="$1" i="$2" p="$3"; ids=$(docker ps --all --quiet --filter "label=com.docker.compose.project=$p") || exit 1; ' + _INSPECT_IDS
    return ["sh", "-c", script, "sh", CONTAINER_FORMAT, IMAGE_FORMAT, project_name]


def config_json(project: ComposeProject) -> list[str]:
    return compose(project, "config", "--format", "json")


def up_service(project: ComposeProject, service: str) -> list[str]:
    """Create the service's containers (or recreate them, if its image or configuration
    changed); composeship starts what it depends on first, and waits for each to be
    ready itself, at its own pace rather than at the pace of Docker's healthchecks.
    Not `--no-deps`: see rollout.scale_up."""
    return compose(project, "up", "-d", "--no-build", service)


def exec_in(project: ComposeProject, service: str, *args: str) -> list[str]:
    return compose(project, "exec", "-T", service, *args)


def up_dry_run(project: ComposeProject) -> list[str]:
    """What `up -d` would do, without doing it: which containers it would (re)create."""
    return compose(project, "--dry-run", "up", "-d", "--no-build")


def verify_running(project_name: str, expected: dict[str, str]) -> list[str]:
    """Exit 0 when every service in `expected` has running containers (one-off ones
    aside) and all of them run the expected image id; otherwise name each one that
    does not, on stderr, and exit 1."""
    script = (
        'p="$1"; shift; ids=$(docker ps --quiet --no-trunc --filter "label=com.docker.compose.project=$p" --filter label=com.docker.compose.oneoff=False) || exit 2; '
        # Every running container at once: its service, id and image.
        'seen=""; [ -z "$ids" ] || seen=$(docker inspect --format \'{{index .Config.Labels "com.docker.compose.service"}} {{.Id}} {{.Image}}\' $ids) || exit 2; '
        'bad=0; while [ "$#" -ge 2 ]; do s="$1"; want="$2"; shift 2; '
        'mine=$(printf "%s\\n" "$seen" | awk -v s="$s" \'$1 == s { print $2, $3 }\'); '
        'if [ -z "$mine" ]; then echo "$s: no running container" >&2; bad=1; continue; fi; '
        'for id in $(printf "%s\\n" "$mine" | cut -d" " -f1); do got=$(printf "%s\\n" "$mine" | awk -v i="$id" \'$1 == i { print $2 }\'); '
        'if [ "$got" != "$want" ]; then echo "$s: container $(echo "$id" | cut -c1-12) runs image $(echo "$got" | cut -c8-19), not $(echo "$want" | cut -c8-19)" >&2; bad=1; fi; done; '
        "done; exit $bad"
    )
    pairs = [word for service, image_id in sorted(expected.items()) for word in (service, image_id)]
    return ["sh", "-c", script, "sh", project_name, *pairs]
