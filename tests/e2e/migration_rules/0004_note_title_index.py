from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("notes", "0003_note_summary"),
    ]

    operations = [
        migrations.AddIndex(model_name="note", index=models.Index(fields=["title"], name="note_title_idx")),
    ]
