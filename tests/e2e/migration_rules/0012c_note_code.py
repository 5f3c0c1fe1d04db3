import secrets

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("notes", "0012b_note_token"),
    ]

    operations = [
        # A callable the database cannot compute: refused, with the safe way.
        migrations.AddField(model_name="note", name="code", field=models.CharField(max_length=64, default=secrets.token_hex)),
    ]
