from pathlib import Path

import pytest

from tasks import settings
from tasks.errors import ConfigError


@pytest.fixture
def config_dir(tmp_path):
    folder = tmp_path / "config"
    (folder / "hosts").mkdir(parents=True)
    (tmp_path / "project").mkdir()
    return folder


def env(config_dir, **values):
    return {"DEPLOY_CONFIG_DIR": str(config_dir), **values}


def test_local_defaults_and_relative_project_dir(config_dir):
    (config_dir / "local.env").write_text("DEPLOY_PROJECT_DIR=../project\n")
    loaded = settings.load(settings.LOCAL, environ=env(config_dir))
    assert loaded.project_dir == (config_dir.parent / "project").resolve()
    assert loaded.compose_file == "docker-compose.local.yml"
    assert loaded.django_service == "django"
    assert loaded.restart_order == ("django", "celeryworker", "celerybeat", "flower")
    assert loaded.backup == "auto"
    assert loaded.source_of("DEPLOY_PROJECT_DIR").endswith("local.env")


def test_environment_beats_files(config_dir, tmp_path):
    (config_dir / "local.env").write_text("DEPLOY_PROJECT_DIR=../project\nDEPLOY_BACKUP=never\n")
    loaded = settings.load(settings.LOCAL, environ=env(config_dir, DEPLOY_BACKUP="always", DEPLOY_PROJECT_DIR=str(tmp_path)))
    assert loaded.backup == "always"
    assert loaded.project_dir == tmp_path
    assert loaded.source_of("DEPLOY_BACKUP") == "environment"


def test_production_host_file_overrides_production_file(config_dir):
    (config_dir / "production.env").write_text("DEPLOY_PATH=/srv/app\nDEPLOY_REF=main\n")
    (config_dir / "hosts" / "web1.env").write_text("DEPLOY_REF=release-2\n")
    loaded = settings.load(settings.PRODUCTION, host="web1", environ=env(config_dir))
    assert (loaded.path, loaded.ref, loaded.compose_file) == ("/srv/app", "release-2", "docker-compose.production.yml")
    other = settings.load(settings.PRODUCTION, host="web2", environ=env(config_dir))
    assert other.ref == "main"


def test_restart_order_list(config_dir):
    loaded = settings.load(settings.PRODUCTION, environ=env(config_dir, DEPLOY_PATH="/srv/app", DEPLOY_RESTART_ORDER="django, celeryworker,"))
    assert loaded.restart_order == ("django", "celeryworker")


@pytest.mark.parametrize(
    "key, value, words",
    [
        ("DEPLOY_BACKUP", "sometimes", "DEPLOY_BACKUP=sometimes (from environment) is not one of auto, always, never"),
        ("DEPLOY_REF", "main; touch /tmp/pwned", "DEPLOY_REF=main; touch /tmp/pwned (from environment) is not a branch"),
        ("DEPLOY_DJANGO_SERVICE", "web$(id)", "DEPLOY_DJANGO_SERVICE=web$(id) (from environment) is not a service name"),
        ("DEPLOY_HEALTHCHECK_URL", "localhost:8000", "is not an http:// or https:// URL"),
        ("DEPLOY_PATH", "srv/app", "is not an absolute path"),
        ("DEPLOY_HEALTHCHECK_TIMEOUT", "soon", "is not a whole number"),
        ("DEPLOY_CONNECT_TIMEOUT", "0", "must be greater than 0"),
        # A byte that is not UTF-8 in the environment arrives as a lone surrogate.
        ("DEPLOY_COMPOSE_FILE", "compose\udcff.yml", "is not valid UTF-8 text"),
        ("DEPLOY_COMPOSE_FILE", "docker-compose.production.yml:", "is not a file name, or a list of them separated by `:`"),
        ("DEPLOY_ENGINE", "kubernetes", "is not one of compose, swarm"),
        # A line break or carriage return in a bad value is shown escaped: one line.
        ("DEPLOY_PATH", "srv\rapp", "DEPLOY_PATH=srv\\rapp (from environment) contains control characters"),
        # No scheme, path or credentials: the registry's address only.
        ("DEPLOY_REGISTRY", "https://bob:secret@registry:5000", "is not a registry address"),
        ("DEPLOY_REGISTRY", "registry:5000/team", "is not a registry address"),
        ("DEPLOY_COMPOSE_FILE", "docker-compose.production.yml:-f", "is not a file name, or a list of them separated by `:`"),
        ("DEPLOY_HEALTHCHECK_URL", "http://127.0.0.1/\udcff", "is not valid UTF-8 text"),
    ],
)
def test_bad_values_name_key_and_source(config_dir, key, value, words):
    with pytest.raises(ConfigError) as caught:
        settings.load(settings.PRODUCTION, environ=env(config_dir, **{"DEPLOY_PATH": "/srv/app", key: value}))
    assert words in str(caught.value)


def test_several_compose_files_separated_by_colons(config_dir):
    loaded = settings.load(settings.PRODUCTION, environ=env(config_dir, DEPLOY_PATH="/srv/app", DEPLOY_COMPOSE_FILE="docker-compose.production.yml:docker-compose.swarm.yml"))
    assert loaded.compose_files == ("docker-compose.production.yml", "docker-compose.swarm.yml")
    assert settings.load(settings.PRODUCTION, environ=env(config_dir, DEPLOY_PATH="/srv/app")).compose_files == ("docker-compose.production.yml",)


@pytest.mark.parametrize("value, expected", [("5s", "5s"), ("500ms", "500ms"), ("1min", "1min"), ("250", "250"), ("0", None), ("0s", None)])
def test_migration_lock_timeout_is_a_postgresql_duration(config_dir, value, expected):
    loaded = settings.load(settings.PRODUCTION, environ=env(config_dir, DEPLOY_PATH="/srv/app", DEPLOY_MIGRATION_LOCK_TIMEOUT=value))
    assert loaded.migration_lock_timeout == expected
    assert settings.load(settings.PRODUCTION, environ=env(config_dir, DEPLOY_PATH="/srv/app")).migration_lock_timeout == "5s"


@pytest.mark.parametrize("value", ["5 s", "five", "-1s", "5sec", "1.5s", "5s -c statement_timeout=0"])
def test_migration_lock_timeout_refuses_what_is_not_a_duration(config_dir, value):
    with pytest.raises(ConfigError) as caught:
        settings.load(settings.PRODUCTION, environ=env(config_dir, DEPLOY_PATH="/srv/app", DEPLOY_MIGRATION_LOCK_TIMEOUT=value))
    assert "is not a PostgreSQL duration such as 5s, 500ms or 1min" in str(caught.value)


def test_unknown_key_in_file_names_file(config_dir):
    (config_dir / "local.env").write_text("DEPLOY_PROJECT_DIR=../project\nDEPLOY_PROJET=x\n")
    with pytest.raises(ConfigError, match=r"unknown key DEPLOY_PROJET in .*local.env"):
        settings.load(settings.LOCAL, environ=env(config_dir))


def test_non_deploy_key_in_file_is_refused(config_dir):
    (config_dir / "local.env").write_text("PROJECT_DIR=../project\n")
    with pytest.raises(ConfigError, match="config files hold DEPLOY_\\* keys only"):
        settings.load(settings.LOCAL, environ=env(config_dir))


def test_unknown_environment_variable(config_dir):
    with pytest.raises(ConfigError, match="unknown environment variable DEPLOY_BAKCUP"):
        settings.load(settings.LOCAL, environ=env(config_dir, DEPLOY_BAKCUP="never", DEPLOY_PROJECT_DIR="/"))


def test_missing_required_key(config_dir):
    with pytest.raises(ConfigError, match="DEPLOY_PROJECT_DIR is not set"):
        settings.load(settings.LOCAL, environ=env(config_dir))
    with pytest.raises(ConfigError, match="DEPLOY_PATH is not set"):
        settings.load(settings.PRODUCTION, host="web1", environ=env(config_dir))


def test_project_dir_must_exist(config_dir):
    with pytest.raises(ConfigError, match="is not a folder"):
        settings.load(settings.LOCAL, environ=env(config_dir, DEPLOY_PROJECT_DIR="/no/such/folder"))


def test_key_without_value(config_dir):
    (config_dir / "local.env").write_text("DEPLOY_PROJECT_DIR\n")
    with pytest.raises(ConfigError, match="has no value"):
        settings.load(settings.LOCAL, environ=env(config_dir))


def test_config_dir_must_exist(tmp_path):
    with pytest.raises(ConfigError, match="is not a folder"):
        settings.load(settings.LOCAL, environ={"DEPLOY_CONFIG_DIR": str(tmp_path / "nope")})


def test_host_name_cannot_escape_config_folder(config_dir):
    with pytest.raises(ConfigError, match="cannot name a config file"):
        settings.load(settings.PRODUCTION, host="../../etc/passwd", environ=env(config_dir, DEPLOY_PATH="/srv"))


@pytest.mark.parametrize("ref", ["main", "v1.2.3", "feature/new-thing", "0123abcd", "release_2+build"])
def test_good_refs(ref):
    assert settings.validate_ref(ref) == ref


@pytest.mark.parametrize("ref", ["-x", "a..b", "main;id", "a b", "$(id)", "x.lock", "a/", "`id`", "main|cat", ""])
def test_bad_refs(ref):
    with pytest.raises(ValueError):
        settings.validate_ref(ref)


def test_every_key_is_documented():
    root = Path(settings.REPO_ROOT)
    readme = (root / "README.md").read_text()
    examples = (root / "config" / "local.env.example").read_text() + (root / "config" / "production.env.example").read_text()
    for key in settings.KEYS:
        assert key.name in readme, f"{key.name} missing from README.md"
        assert key.name in examples, f"{key.name} missing from config/*.env.example"


def test_settings_folder_found_from_the_current_folder_up_to_the_git_top(tmp_path):
    project = tmp_path / "shop"
    (project / ".composeship").mkdir(parents=True)
    (project / "notes" / "migrations").mkdir(parents=True)
    assert settings.config_dir({}, project / "notes" / "migrations") == project / ".composeship"
    # A .composeship/ above the git work tree is not this project's.
    (project / "notes" / ".git").mkdir()
    assert settings.config_dir({}, project / "notes" / "migrations", from_checkout=False) == project / "notes" / "migrations" / ".composeship"
    # DEPLOY_CONFIG_DIR wins.
    assert settings.config_dir({"DEPLOY_CONFIG_DIR": str(tmp_path)}, project) == tmp_path


def test_the_checkout_keeps_its_config_folder(tmp_path):
    assert settings.FROM_CHECKOUT  # imported as `tasks`
    assert settings.config_dir({}, tmp_path) == settings.REPO_ROOT / "config"
    assert settings.config_dir({}, tmp_path, from_checkout=False) == tmp_path / ".composeship"


def test_project_dir_defaults_to_the_folder_holding_the_settings_folder(tmp_path):
    (tmp_path / ".composeship").mkdir()
    loaded = settings.load(settings.LOCAL, environ={}, cwd=tmp_path)
    assert loaded.project_dir == tmp_path.resolve()
    (tmp_path / "project").mkdir()
    moved = settings.load(settings.LOCAL, environ={"DEPLOY_PROJECT_DIR": str(tmp_path / "project")}, cwd=tmp_path)
    assert moved.project_dir == tmp_path / "project" and moved.source_of("DEPLOY_PROJECT_DIR") == "environment"


def test_no_settings_folder_says_to_run_init(tmp_path, monkeypatch):
    monkeypatch.setattr(settings, "FROM_CHECKOUT", False)
    with pytest.raises(ConfigError) as caught:
        settings.load(settings.LOCAL, environ={}, cwd=tmp_path)
    assert str(caught.value).startswith("DEPLOY_PROJECT_DIR is not set, and there is no settings folder (")
    assert "run `composeship init` in your project's folder" in str(caught.value)


def test_a_misspelt_key_in_a_projects_settings_points_at_its_files(tmp_path):
    (tmp_path / ".composeship").mkdir()
    (tmp_path / ".composeship" / "local.env").write_text("DEPLOY_COMPOSE_FLIE=x.yml\n")
    with pytest.raises(ConfigError, match=r"unknown key DEPLOY_COMPOSE_FLIE .*check the spelling against the keys listed in .*\.composeship/local.env"):
        settings.load(settings.LOCAL, environ={}, cwd=tmp_path)
