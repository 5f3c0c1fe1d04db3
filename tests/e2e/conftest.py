import os
import subprocess
import uuid

import pytest

from .helpers import Stack, copy_example, free_port


def pytest_collection_modifyitems(items):
    for item in items:
        if "/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def engine():
    """The real Docker Engine with Compose v2. Missing means a broken test bed: fail, never skip."""
    for argv in (["docker", "info"], ["docker", "compose", "version"]):
        result = subprocess.run(argv, capture_output=True, text=True)
        if result.returncode != 0:
            pytest.fail(
                f"test bed not ready: `{' '.join(argv)}` failed ({result.stderr.strip()[:200]}); run ./scripts/test as root, which installs and starts it",
                pytrace=False,
            )


@pytest.fixture
def local_stack(tmp_path, engine):
    """A copy of the example project with its own compose project name and web port."""
    folder = copy_example(tmp_path / "shop")
    port = free_port()
    (folder / ".env").write_text(f"DJANGO_LOCAL_PORT={port}\n")
    stack = Stack(folder, f"cstl{uuid.uuid4().hex[:8]}", "docker-compose.local.yml")
    stack.port = port
    yield stack
    stack.destroy()


@pytest.fixture(scope="session")
def sandbox_host(tmp_path_factory, engine):
    """A real sshd on a free loopback port with a deploy user in the docker group."""
    from .remote import sandbox_down, sandbox_up

    folder = tmp_path_factory.mktemp("sandbox-host")
    try:
        host = sandbox_up(folder, "sandbox")
    except RuntimeError as problem:
        pytest.fail(f"test bed not ready: {problem}", pytrace=False)
    yield host
    sandbox_down(folder)


@pytest.fixture
def remote_project(sandbox_host, tmp_path):
    from .remote import destroy_remote_project, make_remote_project

    project = make_remote_project(sandbox_host, tmp_path)
    yield project
    destroy_remote_project(project)


@pytest.fixture(scope="session")
def own_engine_host(tmp_path_factory, engine):
    """A sandbox host whose Docker Engine is its own (scripts/engine, in a network
    namespace): restarting that engine stops nothing of the other tests. Its published
    ports answer at the engine's address."""
    from .remote import engine as own_engine
    from .remote import sandbox_down, sandbox_up

    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    number = int(worker.removeprefix("gw") or 0) + 1
    name = f"e{number}"
    try:
        facts = own_engine("up", name, number)
        folder = tmp_path_factory.mktemp("own-engine-host")
        host = sandbox_up(folder, "sandbox", docker_host=facts["docker_host"])
    except RuntimeError as problem:
        pytest.fail(f"test bed not ready: {problem}", pytrace=False)
    host["engine"] = facts
    yield host
    sandbox_down(folder)
    own_engine("down", name, number)


@pytest.fixture(scope="session")
def two_hosts(tmp_path_factory, engine):
    """Two more sandbox hosts, web1 and web2: each its own sshd, port and known_hosts."""
    from .remote import sandbox_down, sandbox_up

    folders = [tmp_path_factory.mktemp(f"host-{name}") for name in ("web1", "web2")]
    try:
        hosts = [sandbox_up(folder, name) for folder, name in zip(folders, ("web1", "web2"), strict=True)]
    except RuntimeError as problem:
        pytest.fail(f"test bed not ready: {problem}", pytrace=False)
    yield hosts
    for folder in folders:
        sandbox_down(folder)
