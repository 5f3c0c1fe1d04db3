from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("notes", "0002_note_body"),
    ]

    operations = [
        migrations.AddField(model_name="note", name="summary", field=models.CharField(max_length=50, null=True)),
    ]
