"""Opening the SSH connection safely. Fabric accepts any host key unless told
otherwise; here the host's ssh_config decides, as it does for OpenSSH:
`StrictHostKeyChecking yes` (the default here) refuses unknown and changed keys,
`accept-new` adds unknown keys to the known_hosts file and refuses changed ones, `no`
accepts unknown keys with a warning. A changed key is always refused."""

from __future__ import annotations

import os
import socket
import sys

import paramiko
from fabric import Connection

from .errors import HostError, UsageError

DEFAULT_KNOWN_HOSTS = "~/.ssh/known_hosts"


class UnknownHostKey(paramiko.SSHException):
    def __init__(self, hostname: str, key: paramiko.PKey):
        super().__init__(f"unknown host key for {hostname}")
        self.hostname = hostname
        self.key = key


class RefuseUnknown(paramiko.MissingHostKeyPolicy):
    def missing_host_key(self, client, hostname, key):
        raise UnknownHostKey(hostname, key)


class AcceptNew(paramiko.MissingHostKeyPolicy):
    def __init__(self, known_hosts: str):
        self.known_hosts = known_hosts

    def missing_host_key(self, client, hostname, key):
        client.get_host_keys().add(hostname, key.get_name(), key)
        folder = os.path.dirname(self.known_hosts)
        if folder:
            os.makedirs(folder, mode=0o700, exist_ok=True)
        with open(self.known_hosts, "a") as known:
            known.write(f"{hostname} {key.get_name()} {key.get_base64()}\n")
        print(f"warning: added the host key of {hostname} ({key.get_name()} {fingerprint(key)}) to {self.known_hosts}", file=sys.stderr)


class AcceptWithWarning(paramiko.MissingHostKeyPolicy):
    def missing_host_key(self, client, hostname, key):
        print(
            f"warning: host key of {hostname} ({key.get_name()} {fingerprint(key)}) is not verified: StrictHostKeyChecking is off",
            file=sys.stderr,
        )


def fingerprint(key: paramiko.PKey) -> str:
    return key.fingerprint if hasattr(key, "fingerprint") else key.get_base64()[:16]


def host_key_settings(ssh_config: dict) -> tuple[list[str], str]:
    """(known_hosts files, strictness) from one host's ssh_config entry."""
    files = ssh_config.get("userknownhostsfile") or DEFAULT_KNOWN_HOSTS
    if isinstance(files, str):
        files = files.split()
    strict = str(ssh_config.get("stricthostkeychecking", "yes")).lower()
    strict = {"ask": "yes", "true": "yes", "false": "no", "off": "no"}.get(strict, strict)
    if strict not in ("yes", "accept-new", "no"):
        strict = "yes"
    return [os.path.expanduser(path) for path in files], strict


def require_connection(c) -> Connection:
    if not isinstance(c, Connection):
        raise UsageError("no host given", "name the server with -H, e.g. `fab -H prod deploy` (an ssh_config alias or a host name)")
    return c


def secure(c: Connection, connect_timeout: int) -> tuple[list[str], str]:
    """Switch host key checking on and set the connect timeout, before the first command:
    on the host and on every ProxyJump hop before it (Fabric opens each hop with a
    Connection of its own, which would otherwise accept any key)."""
    files, strict = host_key_settings(c.ssh_config)
    client = c.client
    for path in files:
        if os.path.isfile(path):
            client.load_host_keys(path)
    policy = {"yes": RefuseUnknown(), "accept-new": AcceptNew(files[0]), "no": AcceptWithWarning()}[strict]
    client.set_missing_host_key_policy(policy)
    if "connecttimeout" not in c.ssh_config:
        c.connect_timeout = connect_timeout
    c.config.run.in_stream = False
    if isinstance(c.gateway, Connection):
        secure(c.gateway, connect_timeout)
        _keep_alive_on_open(c.gateway, channel_timeout=c.gateway.connect_timeout)
    return files, strict


# A dead peer is noticed within about KEEPALIVE_SECONDS * (KEEPALIVE_PROBES + 1): the
# SSH keepalives keep data in flight, TCP_USER_TIMEOUT drops a connection whose data
# goes unacknowledged that long, and TCP keepalives cover a connection with none.
KEEPALIVE_SECONDS = 5
KEEPALIVE_PROBES = 3


def keep_alive(transport) -> None:
    transport.set_keepalive(KEEPALIVE_SECONDS)
    sock = transport.sock
    if not isinstance(sock, socket.socket):
        return  # a ProxyJump channel: its hop's own socket carries the settings
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (("TCP_KEEPIDLE", KEEPALIVE_SECONDS), ("TCP_KEEPINTVL", KEEPALIVE_SECONDS), ("TCP_KEEPCNT", KEEPALIVE_PROBES)):
        if hasattr(socket, name):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, name), value)
    if hasattr(socket, "TCP_USER_TIMEOUT"):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, KEEPALIVE_SECONDS * (KEEPALIVE_PROBES + 1) * 1000)


def _keep_alive_on_open(c: Connection, channel_timeout: int) -> None:
    """On a ProxyJump hop: keepalives, and a bound on opening the channel onward (a hop
    whose connection to the next host hangs would keep paramiko waiting an hour)."""
    original = c.open

    def opening():
        outcome = original()
        if c.transport is not None:
            keep_alive(c.transport)
            c.transport.channel_timeout = channel_timeout
        return outcome

    c.open = opening


_opened: dict[int, int] = {}


def connection_count(c: Connection) -> int:
    """How many SSH transports this Connection opened (1: every command shared one)."""
    return _opened.get(id(c), 0)


def _count_opens(c: Connection) -> None:
    # Fabric reopens lazily on any later command if the transport dropped: count those too.
    original = c.open

    def counting_open():
        was_connected = c.is_connected
        outcome = original()
        if not was_connected and c.is_connected:
            _opened[id(c)] = _opened.get(id(c), 0) + 1
            keep_alive(c.transport)
        return outcome

    c.open = counting_open


def _known_hosts_name(c: Connection) -> str:
    return c.host if c.port == 22 else f"[{c.host}]:{c.port}"


def _scan_target(c: Connection) -> str:
    return f"-p {c.port} {c.host}" if c.port != 22 else c.host


def _hop_named(c: Connection, hostname: str) -> Connection | None:
    """The ProxyJump hop (not `c` itself) whose known_hosts name is `hostname`."""
    hop = c.gateway
    while isinstance(hop, Connection):
        if _known_hosts_name(hop) == hostname and _known_hosts_name(c) != hostname:
            return hop
        hop = hop.gateway
    return None


def describe(c: Connection) -> str:
    shown = c.original_host
    return shown if shown == c.host and c.port == 22 else f"{shown} ({c.host}:{c.port})"


def open_connection(c: Connection, connect_timeout: int) -> None:
    """Connect now, so that every way of failing to reach the host becomes one clear error."""
    files, strict = secure(c, connect_timeout)
    where = describe(c)
    known = " or ".join(files)
    scan_target = f"-p {c.port} {c.host}" if c.port != 22 else c.host
    _count_opens(c)
    try:
        c.open()
    except UnknownHostKey as unknown:
        hop = _hop_named(c, unknown.hostname)
        if hop is not None:
            hop_files, _ = host_key_settings(hop.ssh_config)
            raise HostError(
                f"the host key of {unknown.hostname}, the ProxyJump hop to {where}, ({unknown.key.get_name()} {fingerprint(unknown.key)}) is not in {' or '.join(hop_files)}",
                f"verify it with that host's administrator, then add it: `ssh-keyscan {_scan_target(hop)} >> {hop_files[0]}`",
            ) from None
        raise HostError(
            f"the host key of {where} ({unknown.key.get_name()} {fingerprint(unknown.key)}) is not in {known}",
            f"verify it with the server's administrator (`ssh-keygen -lf /etc/ssh/ssh_host_*_key.pub` on the server), then add it: `ssh-keyscan {scan_target} >> {files[0]}`",
        ) from None
    except paramiko.BadHostKeyException as changed:
        raise HostError(
            f"the host key of {where} CHANGED: {known} has {fingerprint(changed.expected_key)}, the server offers {fingerprint(changed.key)}",
            f"this can be an attack; if the server was really reinstalled, verify the new key, remove the old one (`ssh-keygen -R '[{c.host}]:{c.port}' -f {files[0]}`) and add the new one",
        ) from None
    except socket.gaierror:
        raise HostError(
            f"cannot resolve host {c.original_host!r}",
            "give an ssh_config alias (pass the file with `fab -S FILE`, or use ~/.ssh/config) or a reachable host name",
        ) from None
    except paramiko.AuthenticationException as problem:
        raise HostError(
            f"SSH authentication as {c.user} on {where} failed ({problem})",
            "check the User and IdentityFile of the host in your ssh_config, or your ssh-agent",
        ) from None
    except (TimeoutError, socket.timeout):
        raise HostError(
            f"connecting to {where} timed out after {c.connect_timeout}s",
            "check that the host is up and reachable, or raise DEPLOY_CONNECT_TIMEOUT",
        ) from None
    except (paramiko.ssh_exception.NoValidConnectionsError, ConnectionError, OSError) as problem:
        causes = getattr(problem, "errors", None) or {None: problem}
        reason = "; ".join(sorted({getattr(cause, "strerror", None) or str(cause) for cause in causes.values()}))
        raise HostError(
            f"cannot connect to {where}: {reason}",
            "check that sshd runs there and that the HostName and Port in your ssh_config are right",
        ) from None
    except paramiko.SSHException as problem:
        if isinstance(c.gateway, Connection) and "Timeout opening channel" in str(problem):
            raise HostError(
                f"the ProxyJump hop {describe(c.gateway)} could not open a connection to {c.host}:{c.port} within {c.gateway.connect_timeout}s",
                f"check that {c.host}:{c.port} is up and reachable from the hop, or raise DEPLOY_CONNECT_TIMEOUT",
            ) from None
        raise HostError(f"SSH to {where} failed: {problem}", "check the host's ssh_config entry and sshd") from None
