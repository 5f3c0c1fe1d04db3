"""Property-based tests of every input that reaches a host: refs, service names,
--since, --tail, --to, lock messages and settings. Whatever a user types, it is either
refused before anything runs, or it arrives on the host as exactly one argument of
the command, unchanged: a real POSIX shell parses the rendered command back."""

import subprocess

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from tasks import cli, settings
from tasks.commands import compose, git, host
from tasks.commands.compose import ComposeProject
from tasks.errors import ConfigError, UsageError
from tasks.executor import render
from tasks.records import LockInfo
from tasks.steps.lock import new_lock

# Text a user could type or put in a config file: any character but NUL (which cannot
# be an argument of any program), with the shell's and git's specials made likely.
SPECIALS = st.sampled_from(list(" \t\n'\"\\$`;&|<>(){}[]*?!#~=%^:@,-./+") + ["$(id)", "`id`", "--", "..", "\\n", "\u00e9", "\u2028"])
# Lone surrogates aside: no file or environment can hold them (not UTF-8).
TYPED = st.lists(st.one_of(st.characters(blacklist_characters="\x00", blacklist_categories=("Cs",)), SPECIALS), max_size=30).map("".join)
# Mostly-valid input too, so that the accepted side is exercised as much as the refused.
NAMEISH = st.from_regex(r"[A-Za-z0-9_\-.][A-Za-z0-9._/+\-]{0,15}", fullmatch=True)
REFS = st.one_of(TYPED, NAMEISH, st.builds(lambda a, b: a + b, NAMEISH, TYPED))
SERVICES = st.one_of(TYPED, st.lists(NAMEISH, min_size=1, max_size=3).map(",".join))
SINCES = st.one_of(
    TYPED,
    st.from_regex(r"[0-9]{1,3}(s|m|h)|20[0-9]{2}-[01][0-9]-[0-3][0-9](T[0-2][0-9]:[0-5][0-9](:[0-5][0-9])?Z?)?", fullmatch=True),
    st.builds(lambda a, b: a + b, st.just("10m"), TYPED),
)
FEW = hypothesis_settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def words_on_the_host(argv: list[str]) -> list[str]:
    """What a POSIX shell hands a program when it runs render(argv)."""
    shown = render(["printf", "%s\\000", *argv])
    done = subprocess.run(["sh", "-c", shown], capture_output=True, check=True)
    return done.stdout.decode("utf-8", "surrogateescape").split("\0")[:-1]


def accepted(check, value):
    try:
        return check(value)
    except (UsageError, ConfigError, ValueError):
        return None


@FEW
@given(REFS)
def test_a_ref_is_refused_or_reaches_git_as_one_word(value):
    ref = accepted(lambda v: cli.ref_option("--ref", v), value)
    if ref is None:
        return
    assert not ref.startswith("-"), "a ref must never read as an option"
    for argv in (git.checkout(ref), git.ls_remote_and_presence(ref), git.resolve(ref)):
        assert words_on_the_host(argv) == argv


@FEW
@given(SERVICES)
def test_service_names_are_refused_or_reach_compose_unchanged(value):
    names = accepted(cli.service_names, value)
    if not names:
        return
    for name in names:
        assert not name.startswith("-")
    argv = compose.logs(ComposeProject("docker-compose.production.yml"), names, since="10m", tail=5)
    assert words_on_the_host(argv) == argv


@FEW
@given(SINCES)
def test_since_is_refused_or_reaches_compose_unchanged(value):
    since = accepted(cli.since_option, value)
    if since is None:
        return
    assert not since.startswith("-")
    argv = compose.logs(ComposeProject("f.yml"), since=since)
    assert words_on_the_host(argv)[-2:] == ["--since", since]


@FEW
@given(st.one_of(TYPED, st.integers()))
def test_tail_is_a_number_or_refused(value):
    lines = accepted(cli.tail_lines, value)
    if lines is None:
        return
    assert isinstance(lines, int) and lines >= 0
    assert words_on_the_host(compose.logs(ComposeProject("f.yml"), tail=lines))[-2:] == ["--tail", str(lines)]


@FEW
@given(TYPED)
def test_a_lock_message_reaches_the_lock_file_intact_and_on_one_line(tmp_path_factory, value):
    folder = tmp_path_factory.mktemp("lock")
    (folder / ".git").mkdir()
    info = new_lock("manual", message=value)
    assert "\n" not in info.message and all(ch.isprintable() for ch in info.message)
    state, lock = str(folder / ".git/composeship"), str(folder / ".git/composeship/lock")
    taken = subprocess.run(host.take_lock(state, lock, info.lines()), capture_output=True)
    assert taken.returncode == 0, taken.stderr
    assert LockInfo.parse((folder / ".git/composeship/lock/info").read_text()).message == info.message


SETTING_KEYS = ["DEPLOY_PATH", "DEPLOY_COMPOSE_FILE", "DEPLOY_COMPOSE_PROJECT", "DEPLOY_DJANGO_SERVICE", "DEPLOY_REF", "DEPLOY_REPO_URL", "DEPLOY_HEALTHCHECK_URL", "DEPLOY_RESTART_ORDER"]


@FEW
@given(st.sampled_from(SETTING_KEYS), st.one_of(TYPED, NAMEISH, NAMEISH.map(lambda v: "/srv/" + v), NAMEISH.map(lambda v: "https://example.com/" + v)))
def test_settings_are_refused_or_reach_the_host_unchanged(tmp_path_factory, key, value):
    folder = tmp_path_factory.mktemp("config")
    environ = {"DEPLOY_CONFIG_DIR": str(folder), "DEPLOY_PATH": "/srv/app", key: value}
    try:
        loaded = settings.load(settings.PRODUCTION, environ=environ)
    except ConfigError as problem:
        assert str(problem).count("\n") == 0 or "\n" in value
        return
    project = ComposeProject.from_settings(loaded)
    argv = compose.migrate(project, noinput=True)
    assert words_on_the_host(argv) == argv
    assert words_on_the_host(git.checkout(loaded.ref)) == git.checkout(loaded.ref)
    if loaded.repo_url:
        assert words_on_the_host(git.add_origin(loaded.repo_url)) == git.add_origin(loaded.repo_url)
    if loaded.healthcheck_url:
        assert words_on_the_host(host.wait_for_http(loaded.healthcheck_url, 5)) == host.wait_for_http(loaded.healthcheck_url, 5)
    shown = render(compose.migrate(project), cwd=loaded.path)
    assert shown.startswith("cd ")


SECRET_URLS = [
    "https://deploy:s3cr3t-password@git.example.com/shop.git",
    "https://ghp_t0ken@github.com/acme/shop.git",
    # git's transport::address form, a password in an ssh URL, a token in the query.
    "https::https://bob:s3cr3t-password@git.example.com/shop.git",
    "ssh://deploy:s3cr3t-password@git.example.com/shop.git",
    "https://gitlab.example.com/acme/shop.git?private_token=ghp_t0ken",
    "deploy:s3cr3t-password@git.example.com:acme/shop.git",
]


@pytest.mark.parametrize("secret_url", SECRET_URLS)
def test_a_url_with_credentials_is_refused_without_echoing_them(tmp_path, secret_url):
    with pytest.raises(ConfigError) as refused:
        settings.load(settings.PRODUCTION, environ={"DEPLOY_CONFIG_DIR": str(tmp_path), "DEPLOY_PATH": "/srv/app", "DEPLOY_REPO_URL": secret_url})
    text = str(refused.value)
    assert "s3cr3t-password" not in text and "ghp_t0ken" not in text
    assert "DEPLOY_REPO_URL=" in text and "deploy key" in text and "credential helper" in text


@pytest.mark.parametrize("url", ["ssh://git@github.com/acme/shop.git", "git@github.com:acme/shop.git", "https://github.com/acme/shop.git", "/srv/origins/shop.git"])
def test_urls_without_credentials_pass(tmp_path, url):
    loaded = settings.load(settings.PRODUCTION, environ={"DEPLOY_CONFIG_DIR": str(tmp_path), "DEPLOY_PATH": "/srv/app", "DEPLOY_REPO_URL": url})
    assert loaded.repo_url == url


def test_a_health_check_url_with_credentials_is_refused_and_one_with_a_query_never_shown_whole(tmp_path):
    environ = {"DEPLOY_CONFIG_DIR": str(tmp_path), "DEPLOY_PATH": "/srv/app"}
    for secret in ("https://monitor:s3cr3t-password@shop.example.com/health/", "https://shop.example.com/health/?token=s3cr3t-password"):
        with pytest.raises(ConfigError) as refused:
            settings.load(settings.PRODUCTION, environ={**environ, "DEPLOY_HEALTHCHECK_URL": secret})
        assert "s3cr3t-password" not in str(refused.value) and "answers without a login" in str(refused.value)
    assert settings.redact_url("https://shop.example.com/health/?format=json") == "https://shop.example.com/health/?***"


def test_a_settings_file_is_read_as_written_without_the_deployers_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("APP", "from-the-laptop")
    (tmp_path / "production.env").write_text("DEPLOY_PATH=/srv/${APP}\n")
    with pytest.raises(ConfigError) as refused:
        settings.load(settings.PRODUCTION, environ={"DEPLOY_CONFIG_DIR": str(tmp_path), "APP": "from-the-laptop"})
    assert "DEPLOY_PATH in production.env holds a ${...}: settings files are not interpolated" in str(refused.value).replace(str(tmp_path) + "/", "")
    # A command run on the server keeps its own shell's ${...}.
    (tmp_path / "production.env").write_text("DEPLOY_PATH=/srv/shop\nDEPLOY_ROLLOUT_DRAIN_COMMAND=touch ${HOME}/draining\n")
    loaded = settings.load(settings.PRODUCTION, environ={"DEPLOY_CONFIG_DIR": str(tmp_path)})
    assert loaded.rollout_drain_command == "touch ${HOME}/draining" and loaded.path == "/srv/shop"


def single_quoted(value: str) -> str:
    """A value as a settings file holds it in single quotes (python-dotenv's escapes)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def loaded_or_refusal(environ):
    try:
        return settings.load(settings.PRODUCTION, environ=environ)
    except ConfigError as problem:
        return problem


@FEW
@given(
    st.sampled_from(SETTING_KEYS),
    st.one_of(TYPED, NAMEISH, NAMEISH.map(lambda v: "/srv/" + v), NAMEISH.map(lambda v: "https://example.com/" + v)),
    st.sampled_from(["", "export "]),
)
def test_a_setting_read_from_a_file_is_the_setting_given_in_the_environment(tmp_path_factory, key, value, export):
    # Quoted as a user would (multi-line values, quotes, backslashes, `#`, spaces), with
    # or without `export`: the file gives what the environment gives, accepted alike or
    # refused alike with one line; except `${...}`, which a file never interpolates and
    # refuses (it would mean the deployer's own environment).
    folder = tmp_path_factory.mktemp("config")
    (folder / "production.env").write_text(f"DEPLOY_PATH=/srv/app\n{export}{key}={single_quoted(value)}\n")
    from_file = loaded_or_refusal({"DEPLOY_CONFIG_DIR": str(folder)})
    from_environment = loaded_or_refusal({"DEPLOY_CONFIG_DIR": str(tmp_path_factory.mktemp("empty")), "DEPLOY_PATH": "/srv/app", key: value})
    if "${" in value:
        assert isinstance(from_file, ConfigError) and "settings files are not interpolated" in str(from_file)
    elif isinstance(from_environment, ConfigError):
        assert isinstance(from_file, ConfigError), (value, from_file)
        assert str(from_file).count("\n") == 0 or "\n" in value
    else:
        assert not isinstance(from_file, ConfigError), (value, from_file)
        # Every setting, not only the one written (`sources`, which names the file or
        # the environment, is left out of the comparison by design).
        assert from_file == from_environment, (value, from_file, from_environment)
