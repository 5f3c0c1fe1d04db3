from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("notes", "0012c_note_code"),
    ]

    operations = [
        # NOT NULL since 0007: deferred until the release serves, made nullable first.
        migrations.RemoveField(model_name="note", name="abstract"),
    ]
