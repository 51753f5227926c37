# A group keeps how many messages it holds and each membership how many of them it cannot
# see, instead of each membership counting what it can see (every message added to every
# membership). messaging 0013 fills both from the messages stored.

from django.db import migrations, models

from groups import stamps

# The absences' stamp triggers (0005) read groups_membership, which SQLite rebuilds to change
# its columns (a new table copied and renamed): they are dropped around the change there, and
# created again as 0005 wrote them. PostgreSQL alters the table in place.
ABSENCES = (
    "SELECT ms.group_id FROM groups_membership ms"
    " WHERE ms.id IN (SELECT membership_id FROM changed)",
    "SELECT group_id FROM groups_membership WHERE id = {row}.membership_id",
)


def drop_absence_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        stamps.drop(schema_editor, "groups_absence")


def create_absence_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        events = dict.fromkeys(("INSERT", "UPDATE", "DELETE"), ABSENCES)
        stamps.create(schema_editor, "groups_absence", events)


class Migration(migrations.Migration):
    dependencies = [
        ("groups", "0005_history_stamp"),
        ("members", "0002_member_bad_number_member_opted_out_locally"),
        # The migration that filled message_count, which this one removes, runs first.
        ("messaging", "0010_count_visible_messages"),
    ]

    operations = [
        migrations.RunPython(drop_absence_triggers, create_absence_triggers),
        migrations.RemoveField(model_name="membership", name="message_count"),
        migrations.AddField(
            model_name="group",
            name="message_total",
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.AddField(
            model_name="membership",
            name="hidden_count",
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.AddIndex(
            model_name="membership",
            index=models.Index(
                condition=models.Q(("bye", True)), fields=["group"], name="membership_away"
            ),
        ),
        migrations.RunPython(create_absence_triggers, drop_absence_triggers),
    ]
