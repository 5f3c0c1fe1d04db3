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
