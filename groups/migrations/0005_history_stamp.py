import django.db.models.deletion
from django.db import migrations, models

from groups import stamps

# The groups of the memberships whose absences changed.
ABSENCES = (
    "SELECT ms.group_id FROM groups_membership ms"
    " WHERE ms.id IN (SELECT membership_id FROM changed)",
    "SELECT group_id FROM groups_membership WHERE id = {row}.membership_id",
)


def create_triggers(apps, schema_editor):
    stamps.create(schema_editor, "groups_absence", dict.fromkeys(("INSERT", "UPDATE", "DELETE"), ABSENCES))


def drop_triggers(apps, schema_editor):
    stamps.drop(schema_editor, "groups_absence")


class Migration(migrations.Migration):
    dependencies = [
        ("groups", "0004_membership_message_count"),
    ]

    operations = [
        migrations.CreateModel(
            name="HistoryStamp",
            fields=[
                (
                    "group",
                    models.OneToOneField(
                        db_constraint=False,
                        on_delete=django.db.models.deletion.DO_NOTHING,
                        primary_key=True,
                        related_name="+",
                        serialize=False,
                        to="groups.group",
                    ),
                ),
                ("value", models.BigIntegerField(default=0)),
            ],
        ),
        migrations.RunPython(create_triggers, drop_triggers),
    ]
