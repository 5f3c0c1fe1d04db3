import subprocess

from tasks.commands import compose
from tasks.commands.compose import ComposeProject

LOCAL = ComposeProject("docker-compose.local.yml")
NAMED = ComposeProject("docker-compose.production.yml", django_service="web", project_name="shop")


def test_migrate_is_the_hand_typed_command():
    assert compose.migrate(LOCAL) == "docker compose -f docker-compose.local.yml run --rm django python manage.py migrate".split()


def test_migrate_to_a_target_without_prompts():
    assert compose.migrate(NAMED, "notes", "0001_initial", noinput=True) == [
        "docker",
        "compose",
        "-p",
        "shop",
        "-f",
        "docker-compose.production.yml",
        "run",
        "--rm",
        "web",
        "python",
        "manage.py",
        "migrate",
        "notes",
        "0001_initial",
        "--noinput",
    ]


def test_migrate_with_a_lock_timeout_sets_it_for_libpq():
    assert compose.migrate(NAMED, noinput=True, lock_timeout="5s") == [
        "docker",
        "compose",
        "-p",
        "shop",
        "-f",
        "docker-compose.production.yml",
        "run",
        "-e",
        "PGOPTIONS=-c lock_timeout=5s",
        "--rm",
        "web",
        "python",
        "manage.py",
        "migrate",
        "--noinput",
    ]
    assert compose.migrate(NAMED, "notes", "0001_initial", noinput=True, lock_timeout="500ms")[6:11] == [
        "run",
        "-e",
        "PGOPTIONS=-c lock_timeout=500ms",
        "--rm",
        "web",
    ]


def test_makemigrations_check_never_writes_files():
    assert compose.makemigrations(LOCAL, "notes", check=True)[-5:] == ["manage.py", "makemigrations", "notes", "--check", "--dry-run"]
    assert compose.makemigrations(LOCAL)[-2:] == ["manage.py", "makemigrations"]


def test_showmigrations_plan():
    assert compose.showmigrations(LOCAL, plan=True)[-3:] == ["manage.py", "showmigrations", "--plan"]


def test_manage_passes_arguments_as_separate_words():
    assert compose.manage(LOCAL, "shell", "-c", "print(1); import os")[-4:] == ["manage.py", "shell", "-c", "print(1); import os"]


def test_lifecycle_commands():
    assert compose.up(LOCAL) == ["docker", "compose", "-f", "docker-compose.local.yml", "up", "-d"]
    assert compose.up(NAMED, ["web"], no_deps=True, no_build=True)[-5:] == ["up", "-d", "--no-deps", "--no-build", "web"]
    assert compose.down(LOCAL)[-1] == "down"
    assert compose.restart(LOCAL, ["django"])[-2:] == ["restart", "django"]
    assert compose.build(NAMED, ["web", "worker"])[-3:] == ["build", "web", "worker"]


def test_logs_flags():
    assert compose.logs(LOCAL, ["django"], follow=True, since="10m", tail=50)[-7:] == ["logs", "--follow", "--since", "10m", "--tail", "50", "django"]
    assert compose.logs(LOCAL)[-1] == "logs"


def test_probes():
    assert compose.config_services(LOCAL)[-2:] == ["config", "--services"]


def test_the_containers_of_a_project_are_found_by_its_label_with_the_name_as_an_argument():
    argv = compose.labelled_containers_and_images("shop; rm -rf ~")
    assert argv[:2] == ["sh", "-c"]
    assert argv[3:] == ["sh", compose.CONTAINER_FORMAT, compose.IMAGE_FORMAT, "shop; rm -rf ~"]
    assert 'docker ps --all --quiet --filter "label=com.docker.compose.project=$p"' in argv[2]
    assert "shop" not in argv[2]


def test_several_compose_files_are_each_given_with_f_in_order():
    both = ComposeProject("docker-compose.production.yml:docker-compose.swarm.yml", project_name="shop")
    assert compose.config_json(both) == "docker compose -p shop -f docker-compose.production.yml -f docker-compose.swarm.yml config --format json".split()


def run_with_docker(tmp_path, script: str, argv: list[str]):
    """argv run by a real sh, with a stand-in `docker` (a shell `case` on its arguments)
    that records each call."""
    calls = tmp_path / "calls"
    (tmp_path / "docker").write_text(f'#!/bin/sh\necho "$*" >> {calls}\n{script}\n')
    (tmp_path / "docker").chmod(0o755)
    result = subprocess.run(argv, capture_output=True, text=True, env={"PATH": f"{tmp_path}:/usr/bin:/bin"}, timeout=30)
    return result, calls.read_text().splitlines()


def test_the_containers_and_their_images_are_read_with_one_inspect_of_each_kind(tmp_path):
    script = """case "$1 $2" in
  "ps --all") printf 'c1\\nc2\\n' ;;
  "inspect --format") printf 'sha256:i1 {"kind":"container","id":"c1"}\\nsha256:i1 {"kind":"container","id":"c2 with a space"}\\n' ;;
  "image inspect") echo '{"kind":"image","id":"sha256:i1"}' ;;
esac"""
    result, calls = run_with_docker(tmp_path, script, compose.labelled_containers_and_images("shop"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ['{"kind":"container","id":"c1"}', '{"kind":"container","id":"c2 with a space"}', '{"kind":"image","id":"sha256:i1"}']
    assert [call.split()[0:2] for call in calls] == [["ps", "--all"], ["inspect", "--format"], ["image", "inspect"]]
    assert calls[-1].endswith(" sha256:i1"), "each image once"


def test_the_image_check_reads_every_running_container_at_once_and_names_each_that_is_wrong(tmp_path):
    script = """case "$1" in
  ps) printf 'c1\\nc2\\nc3\\n' ;;
  inspect) printf 'django c1 sha256:new\\ncelerybeat c2 sha256:old\\ndjango c3 sha256:new\\n' ;;
esac"""
    expected = {"django": "sha256:new", "celerybeat": "sha256:new", "celeryworker": "sha256:new"}
    result, calls = run_with_docker(tmp_path, script, compose.verify_running("shop", expected))
    assert result.returncode == 1
    assert result.stderr.splitlines() == ["celerybeat: container c2 runs image old, not new", "celeryworker: no running container"]
    assert len(calls) == 2, "one listing, one inspect, whatever the number of services"
    result, _ = run_with_docker(tmp_path, script, compose.verify_running("shop", {"django": "sha256:new"}))
    assert result.returncode == 0, result.stderr
