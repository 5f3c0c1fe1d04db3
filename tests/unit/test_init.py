"""`composeship init` (tasks/init.py): detection from a project's files, the settings
files it renders, and what it writes, keeps or leaves to the user."""

import json
import shutil
from pathlib import Path

import pytest
from invoke import Collection, task

from tasks import init as composeship_init
from tasks import project, settings
from tasks.console import main
from tasks.errors import UsageError
from tasks.facts import compose_file

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "example"
COOKIECUTTER_PRODUCTION = (Path(__file__).parent / "recorded" / "cookiecutter-production.yml").read_text()


@pytest.fixture
def example(tmp_path):
    return Path(shutil.copytree(EXAMPLE, tmp_path / "shop", ignore=shutil.ignore_patterns("__pycache__", ".env")))


def active(text: str) -> dict[str, str]:
    return compose_file.parse_dotenv(text)


def test_detects_the_example(example):
    d = composeship_init.detect(example, "git@example.com:me/shop.git")
    assert d.name == "shop" and d.has_manage_py
    assert d.local == composeship_init.ComposeInfo("docker-compose.local.yml", "django", ("django",), None, None, compose_file.PublishedPort("django", 8000, "tcp", "", "DJANGO_LOCAL_PORT"))
    assert d.production.file == "docker-compose.production.yml"
    assert (d.production.django, d.production.built_like_django, d.production.proxy, d.production.healthcheck_path) == ("django", ("django", "celeryworker"), "nginx", "/health/")
    assert d.repo_url == "git@example.com:me/shop.git"
    # Behind its nginx, which publishes a port: the health check goes through the proxy, as users' requests do.
    rendered = composeship_init.render_env(settings.PRODUCTION, d)
    assert active(rendered)["DEPLOY_HEALTHCHECK_URL"] == "http://127.0.0.1:8000/health/"
    assert "# Detected: nginx is in front of django in docker-compose.production.yml and publishes port 8000 (read from DJANGO_PUBLISHED_PORT" in rendered


def test_a_swarm_override_is_offered_not_switched_on(example):
    d = composeship_init.detect(example)
    assert d.swarm_file == "docker-compose.swarm.yml"
    rendered = composeship_init.render_env(settings.PRODUCTION, d)
    assert active(rendered)["DEPLOY_COMPOSE_FILE"] == "docker-compose.production.yml" and "DEPLOY_ENGINE" not in active(rendered)
    assert "# DEPLOY_ENGINE=swarm" in rendered and "# DEPLOY_COMPOSE_FILE=docker-compose.production.yml:docker-compose.swarm.yml" in rendered
    assert "docker-compose.swarm.yml is beside docker-compose.production.yml: to deploy as a Docker Swarm stack" in rendered
    assert "# DEPLOY_REGISTRY=registry.example.com:5000" in rendered, "offered, commented: a placeholder to replace"
    (example / "docker-compose.swarm.yml").unlink()
    assert "DEPLOY_ENGINE=swarm" not in composeship_init.render_env(settings.PRODUCTION, composeship_init.detect(example))


def test_detects_cookiecutter_names_and_a_proxy(tmp_path):
    (tmp_path / "manage.py").write_text("")
    (tmp_path / "local.yml").write_text("services:\n  django:\n    build: .\n    command: /start\n")
    (tmp_path / "production.yml").write_text(COOKIECUTTER_PRODUCTION)
    d = composeship_init.detect(tmp_path)
    assert (d.local.file, d.production.file, d.production.proxy) == ("local.yml", "production.yml", "traefik")
    rendered = composeship_init.render_env(settings.PRODUCTION, d)
    assert active(rendered) == {"DEPLOY_COMPOSE_FILE": "production.yml", "DEPLOY_DJANGO_SERVICE": "django", "DEPLOY_RESTART_ORDER": "django,celeryworker,celerybeat"}
    assert "# Detected: traefik is in front of django in production.yml: poll through it, with your site's domain.\n# DEPLOY_HEALTHCHECK_URL=https://YOUR-DOMAIN/\n" in rendered


def test_init_says_what_a_stack_lacks_for_a_rollout_with_no_failed_request(tmp_path, example):
    (tmp_path / "manage.py").write_text("")
    (tmp_path / "production.yml").write_text(COOKIECUTTER_PRODUCTION)
    advice = composeship_init.rollout_advice(composeship_init.detect(tmp_path))
    assert [line.split(":")[0] for line in advice] == ["django has no healthcheck", "Traefik"]
    assert "at port 5000 of each new container (DEPLOY_APP_PORT)" in advice[0]
    assert "`retry` middleware" in advice[1]
    # The example has a healthcheck, and its nginx finds containers by name and retries.
    assert composeship_init.rollout_advice(composeship_init.detect(example)) == []
    (tmp_path / "production.yml").write_text("services:\n  django:\n    build: .\n    command: /start\n    ports: ['8000:5000']\n")
    (published,) = [line for line in composeship_init.rollout_advice(composeship_init.detect(tmp_path)) if "publishes" in line]
    assert published.startswith("django publishes port 8000 on the host") and "remove its `ports:`" in published


def test_a_django_service_of_another_name_and_one_compose_file(tmp_path):
    (tmp_path / "compose.yaml").write_text("services:\n  web:\n    build: .\n    command: gunicorn config.wsgi\n    ports: ['8080:8000']\n  db:\n    image: postgres\n")
    d = composeship_init.detect(tmp_path)
    assert d.local.file == d.production.file == "compose.yaml"
    assert active(composeship_init.render_env(settings.LOCAL, d)) == {"DEPLOY_COMPOSE_FILE": "compose.yaml", "DEPLOY_DJANGO_SERVICE": "web"}
    # No healthcheck: no URL is made up.
    assert "\n# DEPLOY_HEALTHCHECK_URL=\n" in composeship_init.render_env(settings.PRODUCTION, d)


def test_a_broken_compose_file_is_named_not_fatal(tmp_path):
    (tmp_path / "docker-compose.production.yml").write_text("services: [\n")
    d = composeship_init.detect(tmp_path)
    assert d.production.problem.startswith("docker-compose.production.yml is not valid YAML")
    assert "# Detected: found, but it is not valid YAML (line 2).\nDEPLOY_COMPOSE_FILE=docker-compose.production.yml\n" in composeship_init.render_env(settings.PRODUCTION, d)


@pytest.mark.parametrize(
    "origin",
    [
        "https://me:s3cret@git.example.com/shop.git",
        "https::https://me:s3cret@git.example.com/shop.git",
        "ssh://me:s3cret@git.example.com/shop.git",
        "https://git.example.com/shop.git?private_token=s3cret",
    ],
)
def test_a_repo_url_with_credentials_is_not_written(tmp_path, origin):
    (tmp_path / "manage.py").write_text("")
    d = composeship_init.detect(tmp_path, origin)
    assert d.repo_url is None and "credentials" in d.repo_url_refused
    assert "s3cret" not in composeship_init.render_env(settings.PRODUCTION, d)


def test_rendered_files_list_every_key_and_load_cleanly(example):
    d = composeship_init.detect(example)
    for scope in (settings.LOCAL, settings.PRODUCTION):
        text = composeship_init.render_env(scope, d)
        for key in settings.KEYS:
            if key.name != "DEPLOY_PROJECT_DIR":
                assert f"{key.name}=" in text, (scope, key.name)
    composeship_init.write_all(example, composeship_init.plan(example, d))
    local = settings.load(settings.LOCAL, environ={}, cwd=example / "notes")
    assert local.project_dir == example.resolve()
    assert local.source_of("DEPLOY_PROJECT_DIR") == "default (the folder holding .composeship/)"
    production = settings.load(settings.PRODUCTION, host="prod", environ={"DEPLOY_PATH": "/srv/shop"}, cwd=example)
    # nginx is in front and publishes a port: the health check goes through it.
    assert production.healthcheck_url == "http://127.0.0.1:8000/health/"
    assert production.restart_order == ("django", "celeryworker")
    assert production.project_dir == example.resolve()


def test_production_settings_say_what_is_missing(example):
    composeship_init.init(example, out=lambda line: None)
    with pytest.raises(settings.ConfigError) as caught:
        settings.load(settings.PRODUCTION, host="prod", environ={}, cwd=example)
    assert str(caught.value).startswith("DEPLOY_PATH is not set — set it in ")
    assert f"{example}/.composeship/production.env or {example}/.composeship/hosts/prod.env" in str(caught.value)


def test_init_writes_then_keeps_then_rewrites_with_force(example):
    said = []
    composeship_init.init(example, out=said.append)
    assert [line.split()[:2] for line in said if line.startswith("  wrote")] == [
        ["wrote", "tasks.py"],
        ["wrote", "fabfile.py"],
        ["wrote", "fabric.json"],
        ["wrote", ".composeship/local.env"],
        ["wrote", ".composeship/production.env"],
    ]
    assert "  detected production compose file: docker-compose.production.yml (django service django, proxy nginx, healthcheck /health/)" in said
    assert "Next:" in said and any("fab -H prod deploy" in line for line in said)
    assert json.loads((example / "fabric.json").read_text()) == {"tasks": {"executor_class": "composeship.fab_executor.ComposeshipExecutor"}}
    assert "from composeship.project import inv_namespace" in (example / "tasks.py").read_text()
    assert "from composeship.project import fab_namespace" in (example / "fabfile.py").read_text()

    edited = (example / ".composeship" / "production.env").read_text() + "DEPLOY_PATH=/srv/shop\n"
    (example / ".composeship" / "production.env").write_text(edited)
    again = {item.path: item.outcome for item in composeship_init.init(example, out=lambda line: None)}
    assert again[".composeship/production.env"] is composeship_init.FileOutcome.KEPT
    assert again["tasks.py"] is composeship_init.FileOutcome.UNCHANGED
    assert (example / ".composeship" / "production.env").read_text() == edited

    forced = {item.path: item.outcome for item in composeship_init.init(example, force=True, out=lambda line: None)}
    assert forced[".composeship/production.env"] is composeship_init.FileOutcome.REWROTE
    assert "DEPLOY_PATH" not in active((example / ".composeship" / "production.env").read_text())


def test_a_projects_own_tasks_py_and_fabfile_are_never_rewritten(example):
    own_tasks = "from invoke import task\n\n\n@task\ndef hello(c):\n    print('hi')\n"
    own_fabric = json.dumps({"run": {"echo": True}})
    (example / "tasks.py").write_text(own_tasks)
    (example / "fabfile.py").write_text(own_tasks)
    (example / "fabric.json").write_text(own_fabric)
    said = []
    done = {item.path: item.outcome for item in composeship_init.init(example, force=True, out=said.append)}
    assert done["tasks.py"] is done["fabfile.py"] is composeship_init.FileOutcome.YOURS
    assert (example / "tasks.py").read_text() == (example / "fabfile.py").read_text() == own_tasks
    # fabric.json gains the one key `fab` needs; its own settings stay.
    assert done["fabric.json"] is composeship_init.FileOutcome.UPDATED
    assert json.loads((example / "fabric.json").read_text()) == {"run": {"echo": True}, "tasks": {"executor_class": "composeship.fab_executor.ComposeshipExecutor"}}
    text = "\n".join(said)
    assert "Add by hand (composeship never rewrites your own files):" in text
    assert 'ns = include(globals(), "inv")' in text and 'ns = include(globals(), "fab")' in text

    # Once the lines are in, init says so and asks nothing more.
    (example / "tasks.py").write_text(own_tasks + "\n" + composeship_init.include_lines("inv"))
    again = composeship_init.plan(example, composeship_init.detect(example))
    assert [(i.path, i.outcome, i.note) for i in again.files if i.path == "tasks.py"] == [("tasks.py", composeship_init.FileOutcome.UNCHANGED, "your own, with composeship's tasks included")]
    assert [block.split(":")[0] for block in again.add_by_hand] == ["at the end of fabfile.py"]


def test_fabric_yaml_or_another_executor_is_left_to_the_user(example):
    (example / "fabric.json").write_text(json.dumps({"tasks": {"executor_class": "mine.Executor"}}))
    assert composeship_init.render_fabric_json((example / "fabric.json").read_text()) is None
    (example / "fabric.yaml").write_text("run:\n  echo: true\n")
    todo = composeship_init.plan(example, composeship_init.detect(example))
    assert [(item.path, item.outcome) for item in todo.files if item.path.startswith("fabric")] == [("fabric.yaml", composeship_init.FileOutcome.YOURS)]
    assert any("executor_class: composeship.fab_executor.ComposeshipExecutor" in block for block in todo.add_by_hand)


def test_not_a_project_folder(tmp_path):
    with pytest.raises(UsageError, match="has neither manage.py nor a compose file"):
        composeship_init.init(tmp_path, out=lambda line: None)
    assert list(tmp_path.iterdir()) == []


def test_console(example, capsys, monkeypatch):
    assert main(["init", str(example)]) == 0
    assert "wrote     tasks.py" in capsys.readouterr().out
    assert main(["init", str(example / "missing")]) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_include_adds_composeship_tasks_to_a_projects_own():
    @task
    def deploy(c):
        """The project's own deploy."""

    @task
    def hello(c):
        pass

    theirs = project.include({"__name__": "not-imported", "deploy": deploy, "hello": hello}, "fab")
    assert theirs.tasks["deploy"] is deploy
    assert {"hello", "setup", "rollback"} <= set(theirs.tasks) and "local" in theirs.collections

    ns = Collection(hello)
    assert project.include({"__name__": "x", "ns": ns}, "inv") is ns
    assert set(ns.collections) == {"local"} and "migrate" in ns.collections["local"].tasks
