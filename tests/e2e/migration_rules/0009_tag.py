from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("notes", "0008_title_check"),
    ]

    operations = [
        migrations.CreateModel(name="Tag", fields=[("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False)), ("name", models.CharField(max_length=50))]),
    ]
