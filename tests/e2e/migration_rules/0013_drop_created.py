from django.db import migrations


class Migration(migrations.Migration):
    composeship = "post-deploy"

    dependencies = [
        ("notes", "0012e_abstract_again"),
    ]

    operations = [
        migrations.RemoveField(model_name="note", name="created"),
    ]
