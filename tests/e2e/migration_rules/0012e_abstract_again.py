from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("notes", "0012d_drop_abstract"),
    ]

    operations = [
        # Needs 0012d's drop done before the rollout: 0012d cannot wait.
        migrations.AddField(model_name="note", name="abstract", field=models.TextField(null=True)),
    ]
