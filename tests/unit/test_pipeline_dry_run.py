"""The deploy pipeline against a printing executor: the order of the commands it
would run, with the read-only probes answered from recorded output."""

import io
import json
import re
import shlex

from invoke import Result

from tasks.executor import BATCH_MARK

from tasks.executor import PrintingExecutor
from tasks.pipeline import deploy
from tasks.report import Report
from tasks.settings import load
from tasks.target import Target

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


def probes():
    answers = {
        r"docker image inspect --format '\{\{.Id\}\}' \w+:\w+ \w+$": Result("sha256:abc\n", exited=1),
        r"docker image inspect --format '\{\{.Id\}\}' \w+:\w+$": Result(exited=1),
        r"docker image inspect --format '\{\{.Id\}\}' \w+$": Result("sha256:abc\n"),
        r"docker version": Result("20.10\n"),
        r"docker compose version": Result("2.26.1\n"),
        r"sh -c 'command -v": Result(""),
        r"test -f": Result(""),
        r"git rev-parse --verify --quiet 'HEAD\^\{commit\}'": Result(HEAD + "\n"),
        r"git status --porcelain": Result(""),
        r"df -Pk": Result("Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/vda 100 1 9999999 1% /\n"),
        r"git ls-remote origin main": Result(f"{NEW}\trefs/heads/main\n"),
        r"config --format json": Result(json.dumps(CONFIG)),
        r"cat /srv/shop/.git/composeship/releases.log": Result(json.dumps({"kind": "deploy", "result": "ok", "revision": HEAD}) + "\n"),
        r"git diff --name-status": Result("A\tnotes/migrations/0002_note_body.py\n"),
    }
    return {re.compile(".*" + pattern): result for pattern, result in answers.items()}


class RecordedHost:
    """Answers each probe from `probes()`; a batch of probes gets one answer per command,
    in the batch's own format."""

    def __init__(self, answers):
        self.answers = answers

    def answer(self, command):
        for pattern, result in self.answers.items():
            if pattern.match(command):
                return result
        raise AssertionError(f"unexpected command on the host: {command}")

    def run(self, command, **options):
        if BATCH_MARK not in command:
            return self.answer(command)
        script = shlex.split(command)[2]
        parts = []
        for line in script.splitlines():
            found = re.match(r"\( (.*) \) >\"\$t/\d+\.out\"", line)
            if found:
                result = self.answer(found[1])
                parts.append(f"\n{BATCH_MARK} {result.exited}\n{result.stdout}\n{BATCH_MARK}\n{result.stderr}")
        return Result(stdout="".join(parts))


def test_deploy_dry_run_prints_the_whole_plan_in_order(tmp_path):
    environ = {
        "DEPLOY_CONFIG_DIR": str(tmp_path),
        "DEPLOY_PATH": "/srv/shop",
        "DEPLOY_HEALTHCHECK_URL": "http://127.0.0.1:8000/health/",
    }
    settings = load("production", host="web1", environ=environ)
    out = io.StringIO()
    context = RecordedHost(probes())
    target = Target("web1", settings, PrintingExecutor(context, host="web1", out=out), Report("deploy", "web1", dry_run=True, out=out))
    with target.report:
        deploy([target], "main")
    commands = [line for line in out.getvalue().splitlines() if not line.startswith("#")]
    compose = "docker compose -f docker-compose.production.yml"
    assert commands[0].startswith("sh -c '{ mkdir") and "/srv/shop/.git/composeship/lock" in commands[0]
    assert commands[1:] == [
        "cd /srv/shop && git fetch --quiet --prune --tags --force origin",
        f"cd /srv/shop && git checkout --quiet --detach {NEW}",
        f"docker tag shop_celeryworker shop_celeryworker:{HEAD[:12]}",
        f"docker tag shop_django shop_django:{HEAD[:12]}",
        f"cd /srv/shop && {compose} build celeryworker django",
        f"docker tag shop_celeryworker shop_celeryworker:{NEW[:12]}",
        f"docker tag shop_django shop_django:{NEW[:12]}",
        f"cd /srv/shop && {compose} exec -T postgres backup",
        f"cd /srv/shop && {compose} run --rm django python manage.py migrate --noinput",
        f"cd /srv/shop && {compose} up -d --no-build --wait --wait-timeout 60 django",
        f"cd /srv/shop && {compose} up -d --no-build --wait --wait-timeout 60 celeryworker",
        f"cd /srv/shop && {compose} up -d --no-build --wait --wait-timeout 60 postgres",
        "curl --silent --show-error --output /dev/null --write-out '%{http_code}' --max-time 5 http://127.0.0.1:8000/health/",
        "rm -rf -- /srv/shop/.git/composeship/lock",
    ]
    assert "# dry run of deploy" in out.getvalue()
