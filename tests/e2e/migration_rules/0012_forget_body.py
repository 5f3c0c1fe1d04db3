from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("notes", "0011_rename_summary"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[migrations.RemoveField(model_name="note", name="body")]),
    ]
