"""overview.py: `status` and `releases` as text, by exact value, from the records a
host's reads produce (tests/e2e/test_operate.py reads them off a real host)."""

from tasks.overview import format_releases, format_status, release_dict
from tasks.records import Outcome, Release

NEW, OLD = "a" * 40, "b" * 40


def status(**changes):
    base = {
        "host": "web1",
        "path": "/srv/shop",
        "revision": NEW,
        "serving": "",
        "deployed_at": "2026-12-01T10:00:00Z",
        "deployed_by": "ann",
        "ref": "main",
        "checkout": NEW,
        "lock": None,
        "interrupted_run": None,
        "pending_migrations": [],
        "services": [{"service": "django", "state": "running", "health": "healthy", "oneoff": False, "container": "shop-django-1", "revision": NEW}],
        "images": [{"name": "shop_django:aaaaaaaaaaaa", "size": "512MB"}],
    }
    return {**base, **changes}


def test_a_host_serving_what_composeship_deployed():
    assert format_status(status()) == (
        "web1: /srv/shop\n"
        "  serving   aaaaaaaaaaaa, deployed 2026-12-01T10:00:00Z by ann (main)\n"
        "  lock      free\n"
        "  pending   0 migration(s)\n"
        "  service   django         running (healthy)  shop-django-1  aaaaaaaaaaaa\n"
        "  image     shop_django:aaaaaaaaaaaa                         512MB"
    )


def test_what_needs_attention_is_named():
    text = format_status(
        status(
            checkout=OLD,
            lock={"described": "bob (deploy of main, since 2026-12-01T10:05:00Z, 3m ago)"},
            interrupted_run={"kind": "deploy", "user": "bob", "step": "migrate"},
            pending_migrations=["notes.0002_note_body"],
            services=[{"service": "celeryworker", "state": "exited", "health": "", "oneoff": False, "container": "shop-celeryworker-1", "revision": None}],
            images=[],
        )
    )
    assert text.splitlines()[2:] == [
        "  checkout  bbbbbbbbbbbb (not what serves)",
        "  lock      held by bob (deploy of main, since 2026-12-01T10:05:00Z, 3m ago)",
        "  journal   a deploy by bob stopped at step 'migrate': the next run recovers from it",
        "  pending   1 migration(s): notes.0002_note_body",
        "  service   celeryworker   exited  shop-celeryworker-1  unlabelled",
    ]


def test_a_host_composeship_never_deployed():
    text = format_status(status(revision=None, checkout=None, serving="nothing runs", deployed_at=None, pending_migrations=None, services=[], images=[]))
    assert text == "web1: /srv/shop\n  serving   nothing runs\n  lock      free"


def test_a_revision_not_put_into_service_by_composeship():
    assert "  serving   aaaaaaaaaaaa, not put into service by composeship" in format_status(status(deployed_at=None))


def release(**changes):
    fields = {"kind": "deploy", "host": "web1", "user": "ann", "ref": "main", "started": "2026-12-01T10:00:00Z", "previous": OLD, "revision": NEW, "result": Outcome.OK, "seconds": 12.34}
    return Release(**{**fields, **changes})


def test_the_release_table_lines_up_and_says_where_a_run_stopped():
    entries = [release(migrations=["notes.0002_note_body"]), release(result=Outcome.INTERRUPTED, step="migrate", previous=None)]
    assert format_releases("web1", entries) == (
        "web1:\n"
        "  time                  user  kind    revision      previous      result                  seconds  migrations\n"
        "  2026-12-01T10:00:00Z  ann   deploy  aaaaaaaaaaaa  bbbbbbbbbbbb  ok                      12.3     notes.0002_note_body\n"
        "  2026-12-01T10:00:00Z  ann   deploy  aaaaaaaaaaaa  none          interrupted at migrate  12.3     -"
    )


def test_many_migrations_are_counted_and_reversed_ones_marked():
    entry = release(migrations=["notes.0002", "notes.0003", "notes.0004"], unapplied=["shop.0009"])
    row = format_releases("web1", [entry]).splitlines()[-1]
    assert row.endswith("  4: notes.0002, notes.0003 and 2 more")


def test_no_release_yet():
    assert format_releases("web1", []) == "web1: no releases recorded yet"


def test_a_release_as_json_keeps_its_result_as_the_log_spells_it():
    assert release_dict(release(result=Outcome.ROLLED_BACK))["result"] == "rolled back"
