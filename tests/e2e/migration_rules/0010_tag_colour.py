from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("notes", "0009_tag"),
    ]

    operations = [
        migrations.AddField(model_name="tag", name="colour", field=models.CharField(max_length=10, default="red")),
    ]
