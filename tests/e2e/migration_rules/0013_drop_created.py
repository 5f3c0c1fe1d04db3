from django.db import migrations


class Migration(migrations.Migration):
    composeship = "post-deploy"

    dependencies = [
        ("notes", "0012_forget_body"),
    ]

    operations = [
        migrations.RemoveField(model_name="note", name="created"),
    ]
