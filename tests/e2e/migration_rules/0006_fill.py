from django.db import migrations


def fill(apps, schema_editor):
    apps.get_model("notes", "Note").objects.filter(summary=None).update(summary="")


class Migration(migrations.Migration):
    dependencies = [
        ("notes", "0005_widen_title"),
    ]

    operations = [
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
