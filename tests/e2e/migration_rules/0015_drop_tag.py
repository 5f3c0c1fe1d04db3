from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("notes", "0014_title_narrow"),
    ]

    operations = [
        migrations.DeleteModel(name="Tag"),
    ]
