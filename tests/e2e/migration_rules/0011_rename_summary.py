from django.db import migrations


class Migration(migrations.Migration):
    composeship = "safe"

    dependencies = [
        ("notes", "0010_tag_colour"),
    ]

    operations = [
        migrations.RenameField(model_name="note", old_name="summary", new_name="abstract"),
    ]
