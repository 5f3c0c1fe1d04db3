from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("notes", "0013_drop_created"),
    ]

    operations = [
        migrations.AlterField(model_name="note", name="title", field=models.CharField(max_length=100, unique=True)),
    ]
