"""SSH that goes away, and ProxyJump: a silently dropped connection ends the run within
a bounded time with an error that says what may still run on the host; a ProxyJump
hop's host key is verified like the final host's, and a hop that cannot reach the host
ends the run within the connect timeout."""

import subprocess
import time
from pathlib import Path

from .fault_rows import record_row
from .helpers import assert_one_error_line, tool
from .test_deploy import deploy_ok
from .test_truth import start_fab, wait_for_line


def iptables(action: str, port: int) -> None:
    for direction in ("--dport", "--sport"):
        subprocess.run(["iptables", action, "INPUT", "-p", "tcp", "-i", "lo", direction, str(port), "-j", "DROP"], check=action == "-I", capture_output=True)


def test_a_silently_dropped_connection_ends_the_run_in_bounded_time(remote_project):
    project = remote_project
    deploy_ok(project)
    project.origin.commit("1.1.0", {"VERSION": "1.1.0\n"})
    port = project.host["port"]
    run = start_fab(project, "deploy", COMPOSESHIP_PAUSE_AT="build:120", DEPLOY_CONNECT_TIMEOUT="3")
    wait_for_line(run, "drill: pausing")
    iptables("-I", port)
    began = time.monotonic()
    try:
        out, err = run.communicate(timeout=120)
        took = time.monotonic() - began
    finally:
        iptables("-D", port)
    assert run.returncode == 1, out + err
    assert took < 60, f"gave up only after {took:.0f}s"
    last = err.strip().splitlines()[-1]
    assert "the SSH connection to sandbox was lost while `sleep 120` ran" in last, last
    assert "may still be running on sandbox" in last or "journal" in last, last
    # The network is back: what the dead connection left is recovered by the next run.
    assert project.page("/version/") == (200, "1.0.0")
    subprocess.run(["pkill", "-u", project.host["user"], "-f", "^sleep 120$"], capture_output=True)
    if project.locked():
        assert project.fab("unlock", "--force").returncode == 0
    deploy_ok(project)
    assert project.page("/version/") == (200, "1.1.0")
    record_row(
        "deploy",
        "build: the connection silently dropped (iptables)",
        "SSH cut, unnoticed by TCP",
        "the run ends within a minute: `the SSH connection … was lost`; old release serves",
        "deploy of the same ref: recovered",
    )


def _ssh_config_via(jump: dict, final: dict, folder: Path, jump_known_hosts: Path) -> Path:
    jump_lines = [line for line in Path(jump["ssh_config"]).read_text().splitlines() if "UserKnownHostsFile" not in line]
    jump_lines.insert(1, f"  UserKnownHostsFile {jump_known_hosts}")
    final_lines = Path(final["ssh_config"]).read_text().splitlines()
    final_lines[0] = "Host viajump"
    final_lines.append(f"  ProxyJump {jump['name']}")
    path = folder / f"ssh_config_{jump_known_hosts.name}"
    path.write_text("\n".join(jump_lines + final_lines) + "\n")
    return path


def test_a_proxyjump_hop_has_its_host_key_verified(sandbox_host, two_hosts, remote_project, tmp_path):
    web1 = two_hosts[0]
    project = remote_project
    deploy_ok(project)
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    refused = tool("fab", "-S", str(_ssh_config_via(sandbox_host, web1, tmp_path, empty)), "-H", "viajump", "check", env=project.env())
    line = assert_one_error_line(refused, "ProxyJump hop to viajump", "is not in", "ssh-keyscan")
    assert f"[127.0.0.1]:{sandbox_host['port']}" in line

    known = tmp_path / "known_hosts"
    known.write_text(Path(sandbox_host["known_hosts"]).read_text())
    allowed = tool("fab", "-S", str(_ssh_config_via(sandbox_host, web1, tmp_path, known)), "-H", "viajump", "lock-status", env=project.env())
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert "viajump: not locked" in allowed.stdout


def test_a_proxyjump_hop_that_cannot_reach_the_host_ends_the_run_in_bounded_time(sandbox_host, two_hosts, remote_project, tmp_path):
    web1 = two_hosts[0]
    known = tmp_path / "known_hosts"
    known.write_text(Path(sandbox_host["known_hosts"]).read_text())
    config = _ssh_config_via(sandbox_host, web1, tmp_path, known)
    # The hop's own connection onward hangs: its SYNs to web1's sshd are dropped.
    iptables("-I", web1["port"])
    began = time.monotonic()
    try:
        hung = tool("fab", "-S", str(config), "-H", "viajump", "lock-status", env=remote_project.env(DEPLOY_CONNECT_TIMEOUT="3"), timeout=120)
        took = time.monotonic() - began
    finally:
        iptables("-D", web1["port"])
    assert_one_error_line(hung, f"the ProxyJump hop {sandbox_host['name']}", f"could not open a connection to 127.0.0.1:{web1['port']} within 3s", "DEPLOY_CONNECT_TIMEOUT")
    assert took < 30, f"gave up only after {took:.0f}s"
