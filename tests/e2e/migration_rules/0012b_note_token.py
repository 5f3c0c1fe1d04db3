import uuid

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("notes", "0012a_note_stamped"),
    ]

    operations = [
        migrations.AddField(model_name="note", name="token", field=models.UUIDField(default=uuid.uuid4)),
    ]
