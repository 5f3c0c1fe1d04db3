from django.db import migrations


class Migration(migrations.Migration):
    # Misspelt on purpose: a value composeship does not know stops the deploy.
    composeship = "afterdeploy"

    dependencies = [
        ("notes", "0011_rename_summary"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(state_operations=[migrations.RemoveField(model_name="note", name="body")]),
    ]
