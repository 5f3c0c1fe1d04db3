import json

import pytest

from tasks.errors import DeployError
from tasks.facts import compose, git, host, migrations
from tasks.facts.migrations import Migration
from tasks.steps.services import recreated_note, restart_order

CONFIG = {
    "name": "shop",
    "services": {
        "django": {"build": {"context": "/srv/shop", "dockerfile": "./compose/production/django/Dockerfile"}, "image": "shop_production_django"},
        "celeryworker": {"build": {"context": "/srv/shop", "dockerfile": "./compose/production/django/Dockerfile"}, "image": "shop_production_celeryworker"},
        "postgres": {"build": {"context": "/srv/shop", "dockerfile": "./compose/production/postgres/Dockerfile"}, "image": "shop_production_postgres"},
        "redis": {"image": "redis:6"},
        "nginx": {"build": {"context": "/srv/shop", "dockerfile": "./compose/production/django/Dockerfile"}},
    },
}


def test_config_groups_services_sharing_the_django_build():
    config = compose.parse_config(json.dumps(CONFIG))
    assert config.sharing_build_with("django") == ["celeryworker", "django", "nginx"]
    assert config.services["nginx"].image == "shop-nginx"
    assert config.services["redis"].build is None
    assert config.sharing_build_with("redis") == []


def test_a_configuration_fingerprint_changes_with_the_configuration_only():
    same = compose.parse_config(json.dumps(dict(reversed(list(CONFIG.items()))), indent=2))
    assert same.fingerprint == compose.parse_config(json.dumps(CONFIG)).fingerprint != ""
    edited = json.loads(json.dumps(CONFIG))
    edited["services"]["django"]["environment"] = {"FEATURE": "on"}
    assert compose.parse_config(json.dumps(edited)).fingerprint != same.fingerprint


def test_config_garbage_is_an_error():
    with pytest.raises(DeployError):
        compose.parse_config("services: {}")


def test_revision_and_status():
    assert git.parse_revision("0123456789abcdef0123456789abcdef01234567\n") == "0123456789abcdef0123456789abcdef01234567"
    with pytest.raises(DeployError):
        git.parse_revision("fatal: bad revision")
    assert git.parse_dirty_files(" M notes/models.py\n?? stray.txt\n") == ["notes/models.py", "stray.txt"]


def test_ls_remote_prefers_the_peeled_tag_then_the_branch():
    out = "aaa\trefs/heads/main\nbbb\trefs/tags/v1\nccc\trefs/tags/v1^{}\n"
    assert git.parse_ls_remote(out, "v1") == "ccc"
    assert git.parse_ls_remote(out, "main") == "aaa"
    assert git.parse_ls_remote(out, "nope") is None


def test_free_disk_from_df():
    out = "Filesystem     1024-blocks      Used Available Capacity Mounted on\n/dev/vda         263174212  23226032  83886080      22% /\n"
    assert host.parse_free_mb(out) == 81920
    with pytest.raises(DeployError):
        host.parse_free_mb("df: /nope: No such file or directory\n")


def test_stale_migrations():
    plan = [Migration("notes", "0001_initial", True), Migration("auth", "0001_initial", True), Migration("shop_orders", "0001_initial", True)]
    files = [
        "notes/migrations/__init__.py",
        "notes/migrations/0001_initial.py",
        "notes/migrations/0002_note_body.py",
        "apps/orders/migrations/0001_initial.py",  # custom label shop_orders: matched by name
        "apps/orders/migrations/0002_more.py",
    ]
    assert migrations.stale_migrations(files, plan) == ["notes/migrations/0002_note_body.py", "apps/orders/migrations/0002_more.py"]
    assert migrations.stale_migrations(files[:2], plan) == []


def test_restart_order_puts_listed_services_first():
    assert restart_order(("django", "celeryworker", "celerybeat", "flower"), ["postgres", "celeryworker", "redis", "django"]) == [
        "django",
        "celeryworker",
        "postgres",
        "redis",
    ]


def test_recreated_or_unchanged():
    assert recreated_note(" Container shop-django-1  Recreate\n Container shop-django-1  Recreated\n Container shop-django-1  Started\n") == "recreated"
    assert recreated_note(" Container shop-postgres-1  Running\n Container shop-postgres-1  Healthy\n") == "unchanged"


def test_undo_targets_only_touch_the_projects_own_apps():
    plan = [
        Migration("auth", "0001_initial", True),
        Migration("notes", "0001_initial", True),
        Migration("notes", "0002_note_body", True),
        Migration("auth", "0002_alter_permission_name_max_length", True),
        Migration("notes", "0003_pinned", True),
        Migration("shop_orders", "0001_initial", True),
        Migration("notes", "0004_not_applied", False),
    ]
    current = [
        "manage.py",
        "notes/migrations/__init__.py",
        "notes/migrations/0001_initial.py",
        "notes/migrations/0002_note_body.py",
        "notes/migrations/0003_pinned.py",
        "notes/migrations/0004_not_applied.py",
        "apps/orders/migrations/0001_initial.py",
    ]
    target = current[:3]
    undo, targets = migrations.undo_targets(plan, current, target)
    assert [m.label for m in undo] == ["notes.0002_note_body", "notes.0003_pinned", "shop_orders.0001_initial"]
    assert targets == {"notes": "0001_initial", "shop_orders": "zero"}
    assert migrations.undo_targets(plan, current, current) == ([], {})
