"""`fab -H web1,web2 deploy` is one deploy: build on both, the lock on both, migrations
once on the primary before any restart, then one host at a time behind the health gate.
The sandbox hosts share the Docker Engine but not their Postgres: that web2's database
never sees the migration proves it ran once, on the primary. Real hosts have an engine
each; here web2's images get names of their own, or the two concurrent builds would
point one image name at either host's build."""

import json
import subprocess
import uuid
from pathlib import Path

from .helpers import assert_one_error_line, clean_environ, free_port, http_get, tool
from .load import Load, Traffic, record_path
from .remote import MIGRATION_0002, Stack, destroy_remote_project, make_remote_project
from .test_deploy import MODEL_WITH_BODY

AFTER_0003 = """from django.db import migrations


class Migration(migrations.Migration):
    composeship = "post-deploy"

    dependencies = [("notes", "0002_note_body")]

    operations = [migrations.RunSQL("SELECT 1", migrations.RunSQL.noop)]
"""


class Fleet:
    def __init__(self, two_hosts, tmp_path):
        web1, web2 = two_hosts
        self.project = make_remote_project(web1, tmp_path)
        user = web1["user"]
        ident = uuid.uuid4().hex[:8]
        self.image_prefix = f"csr{ident}"
        compose_file = self.project.origin.work / "docker-compose.production.yml"
        named = compose_file.read_text().replace(f"image: {self.project.image_prefix}_production_", f"image: ${{FLEET_IMAGE_PREFIX:-{self.project.image_prefix}}}_production_")
        self.project.origin.commit("image names per host", {"docker-compose.production.yml": named})
        self.path2 = Path(web2["home"]) / "apps" / f"example-{ident}"
        self.path2.mkdir(parents=True)
        self.port2 = free_port()
        (self.path2 / ".env").write_text(f"DJANGO_PUBLISHED_PORT={self.port2}\nFLEET_IMAGE_PREFIX={self.image_prefix}\n")
        subprocess.run(["chown", "-R", f"{user}:", str(self.path2)], check=True)
        self.stack2 = Stack(self.path2, f"csr{ident}", "docker-compose.production.yml")
        config = self.project.config_dir
        (config / "hosts" / "web2.env").write_text(f"DEPLOY_PATH={self.path2}\nDEPLOY_COMPOSE_PROJECT={self.stack2.name}\nDEPLOY_HEALTHCHECK_URL=http://127.0.0.1:{self.port2}/health/\n")
        self.ssh_config = tmp_path / "ssh_config"
        self.ssh_config.write_text(Path(web1["ssh_config"]).read_text() + "\n" + Path(web2["ssh_config"]).read_text())

    def fab(self, *args, hosts="web1,web2", **extra):
        env = clean_environ(DEPLOY_CONFIG_DIR=str(self.project.config_dir), **extra)
        return tool("fab", "-S", str(self.ssh_config), *(["-H", hosts] if hosts else []), *args, env=env)

    def version(self, host):
        port = self.project.port if host == "web1" else self.port2
        return http_get(f"http://127.0.0.1:{port}/version/")

    def destroy(self):
        self.stack2.destroy()
        listed = subprocess.run(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}", f"{self.image_prefix}_production_*"], capture_output=True, text=True)
        if listed.stdout.split():
            subprocess.run(["docker", "rmi", "--no-prune", *listed.stdout.split()], capture_output=True)
        subprocess.run(["rm", "-rf", str(self.path2)])
        destroy_remote_project(self.project)


def test_one_deploy_across_two_hosts(two_hosts, tmp_path):
    fleet = Fleet(two_hosts, tmp_path)
    try:
        first = fleet.fab("deploy")
        assert first.returncode == 0, first.stdout + first.stderr
        assert fleet.version("web1") == fleet.version("web2") == (200, "1.0.0")

        fleet.project.origin.commit("body; 1.1.0", {"VERSION": "1.1.0\n", "notes/models.py": MODEL_WITH_BODY, "notes/migrations/0002_note_body.py": MIGRATION_0002})
        # Under load through both proxies (web2's database is never migrated here, so
        # only its version page is asked for).
        with Traffic(fleet.project) as traffic, Load(f"http://127.0.0.1:{fleet.port2}/version/", clients=2) as web2:
            second = fleet.fab("deploy")
        assert second.returncode == 0, second.stdout + second.stderr
        record_path("two hosts, a release with a migration", traffic, "web1 rolled out, then web2: no downtime", more_versions=web2)
        traffic.check("1.0.0", "1.1.0")
        assert web2.failed == [] and {"1.0.0", "1.1.0"} <= set(web2.versions()), web2.summary()
        assert fleet.version("web1") == fleet.version("web2") == (200, "1.1.0")

        lines = second.stdout.splitlines()
        # One migrate step, on the primary, before the first restart; restarts are rolling.
        assert [line for line in lines if line.startswith("==> migrate")] == ["==> migrate [web1]"]
        # The rollouts of the build group; the sandbox hosts share one engine and so the
        # proxy's image name, which a concurrent uncached build may point elsewhere.
        order = [line for line in lines if line.startswith(("==> migrate", "==> restart [", "==> health"))]
        assert order == ["==> migrate [web1]", "==> restart [web1]", "==> health [web1]", "==> restart [web2]", "==> health [web2]"]
        assert "notes.0002_note_body" in fleet.project.stack.applied_migrations()
        # web2's own database never saw a migrate container: it has no migration table.
        assert fleet.stack2.sql("select to_regclass('public.django_migrations') is null") == ["t"]
        assert "hosts:" in second.stdout and "web2  ok" in second.stdout

        status = json.loads(fleet.fab("status", "--json").stdout)
        revision = fleet.project.origin.revisions[-1]
        assert [(entry["host"], entry["revision"]) for entry in status] == [("web1", revision), ("web2", revision)]
        releases = json.loads(fleet.fab("releases", "--json").stdout)
        assert [(entry["host"], entry["result"]) for entry in releases] == [("web1", "ok"), ("web1", "ok"), ("web2", "ok"), ("web2", "ok")]

        # A migration marked post-deploy runs once, on the primary, after every host serves.
        fleet.project.origin.commit("after; 1.2.0", {"VERSION": "1.2.0\n", "notes/migrations/0003_after.py": AFTER_0003})
        third = fleet.fab("deploy")
        assert third.returncode == 0, third.stdout + third.stderr
        assert fleet.version("web1") == fleet.version("web2") == (200, "1.2.0")
        lines = third.stdout.splitlines()
        assert [line for line in lines if line.startswith("==> post-migrate")] == ["==> post-migrate [web1]"]
        assert lines.index("==> health [web2]") < lines.index("==> post-migrate [web1]") < lines.index("==> record [web1]")
        assert "notes.0003_after" in fleet.project.stack.applied_migrations()
        assert fleet.stack2.sql("select to_regclass('public.django_migrations') is null") == ["t"]
        entries = json.loads(fleet.fab("releases", "--json").stdout)
        newest = {entry["host"]: entry for entry in entries}  # each host's entries, oldest first
        assert (newest["web1"]["post_deploy"], newest["web2"]["post_deploy"]) == (["notes.0003_after"], [])

        # A release that web1 cannot serve: web1 is rolled back first, then web2, which
        # was waiting, goes back to its release without a restart.
        (fleet.project.config_dir / "hosts" / "web1.env").write_text(f"DEPLOY_HEALTHCHECK_URL=http://127.0.0.1:{fleet.project.port}/version/\nDEPLOY_HEALTHCHECK_TIMEOUT=8\n")
        fleet.project.origin.commit("lose VERSION", {"VERSION": None})
        broken = fleet.fab("deploy")
        assert_one_error_line(broken, "web1 rolled back to the previous release", "which answers again", "web2 stay on the old release", alone=False)
        assert fleet.version("web1") == fleet.version("web2") == (200, "1.2.0")
        lines = broken.stdout.splitlines()
        assert lines.index("==> rollback [web1]") < lines.index("==> revert [web2]")
        assert "web1  rolled back" in broken.stdout and "web2  not restarted" in broken.stdout
        results = [(entry["host"], entry["result"]) for entry in json.loads(fleet.fab("releases", "--json").stdout)]
        assert results[-1] == ("web2", "not restarted") and ("web1", "rolled back") in results
        for path in (fleet.project.path, fleet.path2):
            assert not (Path(path) / ".git" / "composeship" / "lock").exists()
    finally:
        fleet.destroy()


def test_a_lock_on_one_host_stops_the_deploy_on_all(two_hosts, tmp_path):
    fleet = Fleet(two_hosts, tmp_path)
    try:
        assert fleet.fab("deploy").returncode == 0
        fleet.project.origin.commit("1.1.0", {"VERSION": "1.1.0\n"})
        assert fleet.fab("lock", "--message", "web2 under maintenance", hosts="web2").returncode == 0
        refused = fleet.fab("deploy")
        assert_one_error_line(refused, "web2 is locked by", "web2 under maintenance", alone=False)
        assert fleet.version("web1") == fleet.version("web2") == (200, "1.0.0")
        assert not (Path(fleet.project.path) / ".git" / "composeship" / "lock").exists()
        assert (fleet.path2 / ".git" / "composeship" / "lock").exists()
        assert fleet.fab("unlock", hosts="web2").returncode == 0
        # DEPLOY_HOSTS stands in for -H.
        by_config = fleet.fab("deploy", hosts=None, DEPLOY_HOSTS="web1,web2")
        assert by_config.returncode == 0, by_config.stdout + by_config.stderr
        assert fleet.version("web1") == fleet.version("web2") == (200, "1.1.0")
    finally:
        fleet.destroy()
