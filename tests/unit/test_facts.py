from pathlib import Path

from tasks.facts import compose, migrations

RECORDED = Path(__file__).parent / "recorded"


def test_services_one_per_line():
    assert compose.parse_services("django\npostgres\nceleryworker\n") == ["django", "postgres", "celeryworker"]


def test_plan_marks_applied_and_pending_in_order():
    plan = migrations.parse_plan((RECORDED / "showmigrations_plan.txt").read_text())
    labels = [m.label for m in plan]
    assert labels[0] == "contenttypes.0001_initial"
    assert "notes.0001_initial" in labels
    assert [m.label for m in migrations.pending(plan)] == ["notes.0002_note_body"]


def test_list_format():
    listed = migrations.parse_list((RECORDED / "showmigrations.txt").read_text())
    assert migrations.Migration("notes", "0002_note_body", False) in listed
    assert migrations.Migration("auth", "0001_initial", True) in listed
    assert [m.label for m in migrations.pending(listed)] == ["notes.0002_note_body"]


def test_an_image_name_is_looked_up_as_docker_tags_it():
    from tasks.facts import images

    found = images.parse_inspect(
        '{"kind":"image","id":"sha256:a","labels":null,"tags":["shop_django:latest","shop_django:1a2b3c4d5e6f"]}\n'
        '{"kind":"image","id":"sha256:p","labels":null,"tags":["postgres:15","registry:5000/app:latest"]}\n'
    )
    assert images.id_of(found, "shop_django") == images.id_of(found, "shop_django:latest") == "sha256:a"
    assert images.id_of(found, "shop_django:1a2b3c4d5e6f") == "sha256:a"
    assert images.id_of(found, "registry:5000/app") == images.id_of(found, "postgres:15") == "sha256:p"
    assert images.id_of(found, "postgres") is None
