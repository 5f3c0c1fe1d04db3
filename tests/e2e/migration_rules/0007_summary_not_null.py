from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("notes", "0006_fill"),
    ]

    operations = [
        migrations.AlterField(model_name="note", name="summary", field=models.CharField(max_length=50, default="")),
    ]
