import paramiko
import pytest

from tasks.connection import AcceptNew, RefuseUnknown, UnknownHostKey, host_key_settings, require_connection
from tasks.errors import UsageError


def test_defaults_verify_against_the_users_known_hosts(monkeypatch):
    monkeypatch.setenv("HOME", "/home/ann")
    assert host_key_settings({}) == (["/home/ann/.ssh/known_hosts"], "yes")


@pytest.mark.parametrize("value, strict", [("yes", "yes"), ("ask", "yes"), ("accept-new", "accept-new"), ("no", "no"), ("off", "no"), ("bogus", "yes")])
def test_strictness_from_ssh_config(value, strict):
    files, got = host_key_settings({"stricthostkeychecking": value, "userknownhostsfile": "/a /b"})
    assert (files, got) == (["/a", "/b"], strict)


def test_unknown_key_is_refused():
    key = paramiko.RSAKey.generate(1024)
    with pytest.raises(UnknownHostKey):
        RefuseUnknown().missing_host_key(paramiko.SSHClient(), "[127.0.0.1]:2222", key)


def test_accept_new_records_the_key(tmp_path, capsys):
    key = paramiko.RSAKey.generate(1024)
    known = tmp_path / "ssh" / "known_hosts"
    client = paramiko.SSHClient()
    AcceptNew(str(known)).missing_host_key(client, "[127.0.0.1]:2222", key)
    assert known.read_text() == f"[127.0.0.1]:2222 ssh-rsa {key.get_base64()}\n"
    assert client.get_host_keys().lookup("[127.0.0.1]:2222")
    assert "added the host key" in capsys.readouterr().err


def test_a_task_without_host_says_to_pass_one():
    from invoke import Context

    with pytest.raises(UsageError, match="no host given"):
        require_connection(Context())
