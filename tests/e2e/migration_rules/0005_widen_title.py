from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("notes", "0004_note_title_index"),
    ]

    operations = [
        migrations.AlterField(model_name="note", name="title", field=models.CharField(max_length=300)),
    ]
