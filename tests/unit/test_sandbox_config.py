"""The pure config rendering of scripts/sandbox (the script itself is checked end to end)."""

import importlib.machinery
import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "sandbox"


def load_script():
    loader = importlib.machinery.SourceFileLoader("sandbox_script", str(SCRIPT))
    spec = importlib.util.spec_from_loader(loader.name, loader)
    module = importlib.util.module_from_spec(spec)
    writes_bytecode, sys.dont_write_bytecode = sys.dont_write_bytecode, True  # no scripts/__pycache__
    try:
        loader.exec_module(module)
    finally:
        sys.dont_write_bytecode = writes_bytecode
    return module


sandbox = load_script()
FOLDER = Path("/tmp/sbx")


def directives(text):
    return dict(line.strip().split(" ", 1) for line in text.splitlines())


def test_sshd_config_listens_on_loopback_with_keys_only():
    config = directives(sandbox.render_sshd_config(folder=FOLDER, port=40123, user="deploy"))
    assert config["Port"] == "40123"
    assert config["ListenAddress"] == "127.0.0.1"
    assert config["HostKey"] == "/tmp/sbx/ssh_host_ed25519_key"
    assert config["PidFile"] == "/tmp/sbx/sshd.pid"
    assert config["AllowUsers"] == "deploy"
    assert config["UsePAM"] == config["PasswordAuthentication"] == config["KbdInteractiveAuthentication"] == "no"
    assert config["PubkeyAuthentication"] == "yes"
    assert config["StrictModes"] == "no"
    # sshd would open an AuthorizedKeysFile as the user, who cannot enter DIR.
    assert config["AuthorizedKeysFile"] == "none"
    assert config["AuthorizedKeysCommand"] == "/usr/bin/cat /tmp/sbx/authorized_keys"
    assert config["AuthorizedKeysCommandUser"] == "root"
    assert config["Subsystem"] == "sftp internal-sftp"


def test_a_host_with_an_engine_of_its_own_sets_docker_host_for_every_session():
    assert "SetEnv" not in directives(sandbox.render_sshd_config(folder=FOLDER, port=40123, user="deploy"))
    config = directives(sandbox.render_sshd_config(folder=FOLDER, port=40123, user="deploy", docker_host="unix:///run/composeship-engines/e1/docker.sock"))
    assert config["SetEnv"] == "DOCKER_HOST=unix:///run/composeship-engines/e1/docker.sock"


def test_configured_port_reads_back_the_rendered_port():
    assert sandbox.configured_port(sandbox.render_sshd_config(folder=FOLDER, port=40123, user="deploy")) == 40123
    assert sandbox.configured_port("ListenAddress 127.0.0.1\n") is None


def test_ssh_config_alias_checks_the_host_key():
    text = sandbox.render_ssh_config(name="web2", folder=FOLDER, port=40123, user="deploy")
    assert text.splitlines()[0] == "Host web2"
    assert directives(text) == {
        "Host": "web2",
        "HostName": "127.0.0.1",
        "Port": "40123",
        "User": "deploy",
        "IdentityFile": "/tmp/sbx/id_ed25519",
        "IdentitiesOnly": "yes",
        "UserKnownHostsFile": "/tmp/sbx/known_hosts",
        "StrictHostKeyChecking": "yes",
    }


def test_known_hosts_line_drops_the_comment():
    line = sandbox.render_known_hosts(port=40123, host_public_key="ssh-ed25519 AAAAC3Nza sandbox-host\n")
    assert line == "[127.0.0.1]:40123 ssh-ed25519 AAAAC3Nza\n"


@pytest.mark.parametrize("path", ["/tmp/a b", "/tmp/100%", "/tmp/a#b", "/tmp/it's"])
def test_paths_that_ssh_configs_cannot_hold_are_refused(path):
    with pytest.raises(sandbox.SandboxError):
        sandbox.sandbox_dir(path)


def test_usage_errors_exit_1(capsys):
    with pytest.raises(SystemExit) as exit_info:
        sandbox.main(["up"])
    assert exit_info.value.code == 1
    assert capsys.readouterr().err.startswith("sandbox: error: the following arguments are required: --dir")
