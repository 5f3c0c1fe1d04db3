import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("notes", "0012_forget_body"),
    ]

    operations = [
        migrations.AddField(model_name="note", name="stamped", field=models.DateTimeField(default=django.utils.timezone.now)),
    ]
