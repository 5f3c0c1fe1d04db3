"""Safe migrations and fast deploys on a real sandbox host: an edited applied migration
is refused before the database is touched; a redeploy with nothing to do builds
nothing and starts no container, and one after the host's configuration was edited
applies it; a code-only release starts no one-off container; --plan shows what would
be applied and stops, and the deploy of that release runs two one-off containers."""

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .helpers import assert_one_error_line, clean_environ, docker_environ, free_port, http_get, tool
from .remote import MIGRATION_0002
from .test_deploy import MODEL_WITH_BODY, deploy_ok
from .test_operate import IRREVERSIBLE_0002


@contextmanager
def containers_created(project) -> Iterator[list[str]]:
    """Names of the containers Docker creates for the project while the block runs.

    The events are streamed for the block's whole length, not asked for afterwards:
    the engine keeps only its last 256 events, and on the suite's shared engine the
    healthchecks of the other tests' stacks push a deploy's first ones out in seconds."""
    filters = ["--filter", "type=container", "--filter", "event=create", "--filter", f"label=com.docker.compose.project={project.compose_project}"]
    # --since replays from the engine's buffer the moment between starting the
    # stream and its subscription; after that the events arrive live.
    since = f"{time.time():.3f}"
    stream = subprocess.Popen(
        ["docker", "events", "--since", since, *filters, "--format", "{{.Actor.Attributes.name}}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
        env=docker_environ(project.docker_host),
    )
    names: list[str] = []
    try:
        yield names
    finally:
        time.sleep(1)  # the block's last events reach the stream
        stream.terminate()
        out, _ = stream.communicate(timeout=30)
        names.extend(out.split())


def title_length(project):
    return project.stack.sql("select character_maximum_length from information_schema.columns where table_name = 'notes_note' and column_name = 'title'")


def test_an_edited_applied_migration_is_refused_before_the_database_is_touched(remote_project):
    project = remote_project
    deploy_ok(project)
    old = project.head()
    applied = project.stack.applied_migrations()
    initial = (project.origin.work / "notes/migrations/0001_initial.py").read_text()
    assert "max_length=200" in initial
    project.origin.commit("widen the title in place (wrong); 1.1.0", {"VERSION": "1.1.0\n", "notes/migrations/0001_initial.py": initial.replace("max_length=200", "max_length=250")})

    refused = project.fab("deploy")
    assert_one_error_line(refused, "applied migrations were edited", "notes/migrations/0001_initial.py (notes.0001_initial)", "new migration", "--allow-edited-migrations", alone=False)
    assert title_length(project) == ["200"]
    assert project.stack.applied_migrations() == applied
    assert project.page("/version/") == (200, "1.0.0")
    assert project.head() == old
    assert not project.locked()

    allowed = project.fab("deploy", "--allow-edited-migrations")
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert project.page("/version/") == (200, "1.1.0")
    assert title_length(project) == ["200"], "Django never re-runs an applied migration"


def test_a_noop_redeploy_a_code_only_release_and_an_edited_env_each_start_only_what_they_change(remote_project):
    """One project through four deploys: nothing to do (no container, no lock, no
    release), a code-only release (no one-off container, postgres and the proxy left
    alone), a release that changes the proxy's image (the proxy alone recreated), and
    the server's `.env` edited (the same revision applies it, to the proxy alone)."""
    project = remote_project
    deploy_ok(project)
    logged = project.releases()
    with containers_created(project) as created:
        again = deploy_ok(project, "--verbose")
    assert created == []
    revision = project.origin.revisions[-1]
    assert f"--- deploy [sandbox] skipped: main is {revision[:12]}: same revision, images and configuration as running" in again.stdout, again.stdout
    assert "==> lock" not in again.stdout and "==> build" not in again.stdout and "==> record" not in again.stdout
    assert "<== health [sandbox] ok" in again.stdout
    # Read-only: one batch of probes and the health poll, over one connection.
    assert "sandbox: 1 SSH connection(s), 2 commands" in again.stdout, again.stdout
    assert project.releases() == logged, "a run that changed nothing is not a release"
    assert not project.locked()
    assert project.page("/version/") == (200, "1.0.0")

    # A code-only release: django and the worker get new containers, and nothing else.
    postgres_before = project.stack.compose("ps", "-q", "postgres").stdout.strip()
    project.origin.commit("1.1.0", {"VERSION": "1.1.0\n"})
    with containers_created(project) as created:
        result = deploy_ok(project)
    assert project.page("/version/") == (200, "1.1.0")
    assert sorted(name.split("-")[-2] for name in created) == ["celeryworker", "django"], created
    assert "--- migrate [sandbox] skipped: no migration file changed since" in result.stdout
    assert project.stack.compose("ps", "-q", "postgres").stdout.strip() == postgres_before
    assert "restart postgres" not in result.stdout
    assert "restart nginx" not in result.stdout

    # A release that changes the proxy's image (same configuration): the proxy is
    # recreated on it, the rest stays.
    proxy_before = project.stack.compose("ps", "-q", "nginx").stdout.strip()
    conf = project.origin.work / "compose/production/nginx/default.conf"
    project.origin.commit("proxy; 1.2.0", {"VERSION": "1.2.0\n", "compose/production/nginx/default.conf": conf.read_text() + "# 1.2.0\n"})
    proxied = deploy_ok(project)
    assert "<== restart nginx [sandbox] ok" in proxied.stdout, proxied.stdout
    proxy_after = project.stack.compose("ps", "-q", "nginx").stdout.strip()
    assert proxy_after and proxy_after != proxy_before
    assert "# 1.2.0" in subprocess.run(["docker", "exec", proxy_after, "cat", "/etc/nginx/conf.d/default.conf"], capture_output=True, text=True).stdout
    assert project.page("/version/") == (200, "1.2.0")
    assert project.stack.compose("ps", "-q", "postgres").stdout.strip() == postgres_before

    # The host's own configuration edited (here `.env`, which moves the proxy's port):
    # the same revision deployed again applies it, and only to the service it changes.
    port = free_port()
    (Path(project.path) / ".env").write_text(f"DJANGO_PUBLISHED_PORT={port}\n")
    settings = project.config_dir / "production.env"
    settings.write_text(settings.read_text().replace(f":{project.port}/", f":{port}/"))
    edited = deploy_ok(project)
    assert "<== restart nginx [sandbox] ok" in edited.stdout, edited.stdout
    assert "<== restart [sandbox]" not in edited.stdout, "django and celeryworker keep their containers"
    assert http_get(f"http://127.0.0.1:{port}/version/") == (200, "1.2.0")
    settled = deploy_ok(project)
    assert "--- deploy [sandbox] skipped: main is" in settled.stdout, settled.stdout


def test_plan_shows_what_would_be_applied_and_stops_then_the_deploy_starts_one_check_container_and_the_migrate_one(remote_project):
    project = remote_project
    deploy_ok(project)
    old = project.head()
    applied = project.stack.applied_migrations()
    irreversible = IRREVERSIBLE_0002.replace('("notes", "0001_initial")', '("notes", "0002_note_body")')
    project.origin.commit(
        "two migrations; 1.1.0",
        {
            "VERSION": "1.1.0\n",
            "notes/models.py": MODEL_WITH_BODY,
            "notes/migrations/0002_note_body.py": MIGRATION_0002,
            "notes/migrations/0003_data.py": irreversible,
        },
    )
    result = project.fab("deploy", "--plan")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    start = lines.index("notes:")
    assert lines[start : start + 5] == ["notes:", "  0002_note_body", "    - Add field body to note", "  0003_data", "    - Raw Python operation [irreversible] [runs code]"]
    assert project.head() == old
    assert project.page("/version/") == (200, "1.0.0")
    assert project.stack.applied_migrations() == applied
    assert len(project.releases()) == 1
    assert not project.locked()

    # The release deployed: one one-off container checks (and lists the plan), one migrates.
    with containers_created(project) as created:
        result = deploy_ok(project)
    one_offs = [name for name in created if "-run-" in name]
    assert len(one_offs) == 2, (one_offs, result.stdout)  # the check (with the plan) of the new image, then migrate
    assert "2 new migration file(s)" in result.stdout, result.stdout
    assert project.releases()[-1]["migrations"] == ["notes.0002_note_body", "notes.0003_data"]
    assert project.releases()[-1]["backup"].endswith(".sql.gz")
    assert project.page("/version/") == (200, "1.1.0")


def test_local_migrate_warns_about_an_edited_applied_migration(local_stack, tmp_path):
    env = clean_environ(DEPLOY_PROJECT_DIR=str(local_stack.folder), DEPLOY_COMPOSE_PROJECT=local_stack.name, XDG_CACHE_HOME=str(tmp_path / "cache"))
    first = tool("inv", "local.migrate", env=env)
    assert first.returncode == 0 and "warning:" not in first.stderr
    initial = local_stack.folder / "notes/migrations/0001_initial.py"
    initial.write_text(initial.read_text().replace("max_length=200", "max_length=250"))
    second = tool("inv", "local.migrate", env=env)
    assert second.returncode == 0, second.stdout + second.stderr
    assert "warning: notes/migrations/0001_initial.py changed since notes.0001_initial was applied here" in second.stderr
    assert "write a new migration" in second.stderr
