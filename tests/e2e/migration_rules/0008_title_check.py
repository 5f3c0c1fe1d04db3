from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("notes", "0007_summary_not_null"),
    ]

    operations = [
        migrations.AddConstraint(model_name="note", constraint=models.CheckConstraint(check=~models.Q(title=""), name="note_title_not_empty")),
    ]
