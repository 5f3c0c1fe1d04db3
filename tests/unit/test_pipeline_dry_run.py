"""The deploy pipeline against a printing executor: the order of the commands it
would run, with the read-only probes answered as a recorded host would."""

import io
import json
import re

from invoke import Result

from tasks.commands import compose as commands_compose
from tasks.commands import host, rollout
from tasks.executor import PrintingExecutor, render
from tasks.facts import compose as compose_facts
from tasks.facts import migration_safety
from tasks.pipelines.deploy import deploy
from tasks.report import Report
from tasks.settings import load
from tasks.target import Target
from tests.unit.recorded_host import RecordedHost

HEAD = "1" * 40
NEW = "2" * 40
CONFIG = {
    "name": "shop",
    "services": {
        "django": {"build": {"context": "/srv/shop", "dockerfile": "Dockerfile"}, "image": "shop_django"},
        "celeryworker": {"build": {"context": "/srv/shop", "dockerfile": "Dockerfile"}, "image": "shop_celeryworker"},
        "postgres": {"image": "postgres:15"},
    },
}


def container(service, image_id, health=""):
    state = {"Status": "running", **({"Health": {"Status": health}} if health else {})}
    labels = {"com.docker.compose.service": service, "com.docker.compose.oneoff": "False", "com.docker.compose.project": "shop"}
    return json.dumps({"kind": "container", "id": f"{service}0", "name": f"/shop-{service}-1", "image": image_id, "state": state, "labels": labels, "cmd": []})


def image(image_id, revision=None, tags=()):
    return json.dumps({"kind": "image", "id": image_id, "labels": {"org.opencontainers.image.revision": revision} if revision else None, "tags": list(tags)})


CONTAINERS = "\n".join(
    [
        container("django", "sha256:d1", "healthy"),
        container("celeryworker", "sha256:c1"),
        container("postgres", "sha256:p1", "healthy"),
        image("sha256:d1", HEAD),
        image("sha256:c1", HEAD),
        image("sha256:p1"),
    ]
)
# The images as the compose file's names point to them: what serves.
TAGGED = [image("sha256:d1", HEAD, ["shop_django:latest"]), image("sha256:c1", HEAD, ["shop_celeryworker:latest"]), image("sha256:p1", None, ["postgres:15"])]
RELEASE_LOG = json.dumps({"kind": "deploy", "host": "web1", "user": "ann", "ref": "main", "started": "t", "result": "ok", "revision": HEAD}) + "\n"


def probes():
    answers = {
        r"docker version": Result("20.10\n"),
        r"docker compose version": Result("2.26.1\n"),
        r"sh -c 'command -v": Result(""),
        r"test -f": Result(""),
        r"git rev-parse --verify --quiet 'HEAD\^\{commit\}'": Result(HEAD + "\n"),
        r"git status --porcelain": Result(""),
        r"df -Pk": Result("Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/vda 100 1 9999999 1% /\n"),
        r"sh -c '\[ ! -e \"\$0\" \] \|\| cat \"\$0\"' /srv/shop/.git/composeship/releases.log": Result(RELEASE_LOG),
        r"sh -c '\[ ! -e \"\$0\" \] \|\| cat \"\$0\"' /srv/shop/.git/composeship/journal.json": Result(""),
        r"sh -c '\[ -d \"\$0\" \] \|\| exit 3": Result(exited=3),
        r".* config --format json": Result(json.dumps(CONFIG)),
        r"sh -c 'c=\"\$1\" i=\"\$2\"": Result(CONTAINERS + "\n"),
        r"cd /srv/shop && sh -c 'out=\$\(timeout 30 git ls-remote .*head=.* origin main": Result(f"{NEW}\trefs/heads/main\n", exited=1),
        r"git ls-remote .* origin main": Result(f"{NEW}\trefs/heads/main\n"),
        r"git ls-tree --name-only": Result(exited=128),
        r"sh -c 'docker image inspect": Result(""),
        r"git diff --name-status": Result("A\tnotes/migrations/0002_note_body.py\n"),
        r".* exec -T postgres sh -c 'command -v backup": Result(""),
        r".* --dry-run up -d --no-build": Result(stderr=" Container shop-django-1  Recreate\n Container shop-celeryworker-1  Recreate\n Container shop-postgres-1  Running\n"),
    }
    return answers


def swarm_probes():
    """A manager whose stack runs the serving release (HEAD) with two django tasks."""
    answers = probes()
    spec = {"Spec": {"Name": "shop_django", "TaskTemplate": {"ContainerSpec": {"Image": f"shop_django:{HEAD[:12]}"}}, "Mode": {"Replicated": {"Replicas": 2}}}}
    answers.update(
        {
            r"docker info --format": Result('{"LocalNodeState":"active","ControlAvailable":true}'),
            r"sh -c 'ids=\$\(docker stack services": Result(json.dumps([spec])),
            r"docker stack ps": Result(""),
            r"test -f /srv/shop/docker-compose.production.yml": Result(""),
            r"sh -c 'for f; do": Result(""),
            # The image the stack's django spec names: the serving release's.
            r"sh -c 'for r; do out=\$\(docker image inspect": Result(f"shop_django:{HEAD[:12]} sha256:d1 {HEAD}\n"),
        }
    )
    return answers


def test_deploy_dry_run_prints_the_whole_plan_in_order(tmp_path):
    environ = {
        "DEPLOY_CONFIG_DIR": str(tmp_path),
        "DEPLOY_PATH": "/srv/shop",
        "DEPLOY_HEALTHCHECK_URL": "http://127.0.0.1:8000/health/",
    }
    settings = load("production", host="web1", environ=environ)
    out = io.StringIO()
    target = Target("web1", settings, PrintingExecutor(RecordedHost(probes()), host="web1", out=out), Report("deploy", "web1", dry_run=True, out=out))
    with target.report:
        deploy([target], "main")
    compose = "docker compose -f docker-compose.production.yml"
    # The migration check is a script of many lines: one placeholder line here.
    check = render(commands_compose.manage(target.project, "shell", "-c", migration_safety.script()), cwd="/srv/shop")
    assert check in out.getvalue()
    commands = [line for line in out.getvalue().replace(check, "MIGRATION CHECK").splitlines() if not line.startswith("#")]
    assert commands[0].startswith('sh -c \'l="$0"; { mkdir') and "/srv/shop/.git/composeship/lock" in commands[0]
    assert [re.sub(r"^(cd /srv/shop && )sh -c '.*' sh ", r"\1sh -c SCRIPT sh ", line) for line in commands[1:]] == [
        "cd /srv/shop && timeout 900 git fetch --quiet --prune --tags --force origin",
        f"cd /srv/shop && git checkout --quiet --detach {NEW}",
        f"cd /srv/shop && sh -c SCRIPT sh /srv/shop/.git/composeship/build-labels.yml {NEW} 2 celeryworker django {compose} -f /srv/shop/.git/composeship/build-labels.yml build celeryworker django",
        f"sh -c 'docker tag shop_celeryworker shop_celeryworker:{NEW[:12]} && docker tag shop_django shop_django:{NEW[:12]}'",
        "MIGRATION CHECK",
        f"cd /srv/shop && {compose} exec -T postgres backup",
        f"cd /srv/shop && {compose} run --label composeship.migrate=true -e 'PGOPTIONS=-c lock_timeout=5s' --rm django python manage.py migrate --noinput",
        f"cd /srv/shop && {compose} up -d --no-recreate --no-build --scale celeryworker=2 --scale django=2 celeryworker django",
        # django has no healthcheck here: it is ready once the app answers in it.
        render(rollout.wait_ready("shop", [("django", ["django0"], "", (5000, "/health/", "127.0.0.1:8000")), ("celeryworker", ["celeryworker0"], "", None)], 60)),
        render(rollout.retire({10: ["django0", "celeryworker0"]}, 2.0, "", [], 60)),
        render(host.wait_for_http("http://127.0.0.1:8000/health/", 60)),
        render(host.release_lock("/srv/shop/.git/composeship/lock", re.search(r"token=([0-9a-f]+)", commands[0])[1])),
    ]
    assert "# dry run of deploy" in out.getvalue()
    assert "1 new migration file(s) since 111111111111: notes.0002_note_body" in out.getvalue()
    # How each service gets the release is said once its configuration is read, before
    # anything restarts, and a dry run says where it read it from.
    text = out.getvalue()
    said = text.index("web1: django: rolled out, no downtime")
    assert text.index(" build celeryworker django") < said < text.index("exec -T postgres backup") < text.index("--scale celeryworker=2")
    assert "web1: (read from the checkout as it is now: a dry run checks nothing out" in text
    assert text.count("web1: django: rolled out") == 1


def test_a_dry_run_of_a_redeploy_of_what_serves_locks_nothing_and_prints_only_the_health_poll(tmp_path):
    environ = {"DEPLOY_CONFIG_DIR": str(tmp_path), "DEPLOY_PATH": "/srv/shop", "DEPLOY_HEALTHCHECK_URL": "http://127.0.0.1:8000/health/"}
    settings = load("production", host="web1", environ=environ)
    answers = probes()
    served = json.loads(RELEASE_LOG.strip()) | {"config": compose_facts.parse_config(json.dumps(CONFIG)).fingerprint}
    answers[r"sh -c '\[ ! -e \"\$0\" \] \|\| cat \"\$0\"' /srv/shop/.git/composeship/releases.log"] = Result(json.dumps(served) + "\n")
    answers[r"cd /srv/shop && sh -c 'out=\$\(timeout 30 git ls-remote .*head=.* origin main"] = Result(f"{HEAD}\trefs/heads/main\n")
    answers[r"sh -c 'c=\"\$1\" i=\"\$2\""] = Result("\n".join([*CONTAINERS.splitlines()[:3], *TAGGED]) + "\n")
    out = io.StringIO()
    target = Target("web1", settings, PrintingExecutor(RecordedHost(answers), host="web1", out=out), Report("deploy", "web1", dry_run=True, out=out))
    with target.report:
        deploy([target], "main")
    commands = [line for line in out.getvalue().splitlines() if not line.startswith("#")]
    assert commands == [render(host.wait_for_http("http://127.0.0.1:8000/health/", 60))]
    assert f"--- deploy [web1] skipped: main is {HEAD[:12]}: same revision, images and configuration as running" in out.getvalue()


def test_a_dry_run_on_a_swarm_writes_the_stack_file_migrates_on_its_network_and_deploys_the_stack(tmp_path):
    environ = {
        "DEPLOY_CONFIG_DIR": str(tmp_path),
        "DEPLOY_PATH": "/srv/shop",
        "DEPLOY_HEALTHCHECK_URL": "http://127.0.0.1:8000/health/",
        "DEPLOY_ENGINE": "swarm",
        "DEPLOY_COMPOSE_PROJECT": "shop",
        "DEPLOY_COMPOSE_FILE": "docker-compose.production.yml:docker-compose.swarm.yml",
    }
    settings = load("production", host="web1", environ=environ)
    out = io.StringIO()
    target = Target("web1", settings, PrintingExecutor(RecordedHost(swarm_probes()), host="web1", out=out), Report("deploy", "web1", dry_run=True, out=out))
    with target.report:
        deploy([target], "main")
    text = out.getvalue()
    commands = [line for line in text.splitlines() if not line.startswith("#")]
    files = "-f docker-compose.production.yml -f docker-compose.swarm.yml"
    assert f"cd /srv/shop && docker compose -p shop {files} -f /srv/shop/.git/composeship/swarm-network.yml run --no-deps --label composeship.migrate=true" in text
    writes = [line for line in commands if line.startswith("write /srv/shop/.git/composeship/")]
    assert [line.split(" (")[0] for line in writes] == ["write /srv/shop/.git/composeship/stack.json", "write /srv/shop/.git/composeship/swarm-network.yml"]
    deploys = [line for line in commands if "docker stack deploy" in line]
    assert deploys == ["docker stack deploy [--detach=true] --prune --resolve-image never -c /srv/shop/.git/composeship/stack.json shop"]
    order = [next(i for i, line in enumerate(commands) if needle in line) for needle in ("write /srv/shop/.git/composeship/stack.json", " migrate --noinput", "docker stack deploy")]
    assert order == sorted(order), "the stack file, then the migration, then the stack"
    assert not any(" up -d" in line for line in commands), "no compose container on a swarm"
    assert f"serving {HEAD[:12]}" in text, "what serves is read from the stack's services"
    # The printed plan is the swarm's: the stack file before the migration, then the stack deploy.
    plan = [line.split()[2] for line in text.splitlines() if re.match(r"^# +\d+\. ", line)]
    assert plan.index("build") < plan.index("stack") < plan.index("plan") < plan.index("migrate") < plan.index("restart")
    assert "docker stack deploy of the stack file" in text and "only services not running the release's image" not in text
