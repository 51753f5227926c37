from django.db import migrations

from groups import stamps

MESSAGES = ("SELECT group_id FROM changed", "SELECT {row}.group_id AS group_id")
# The groups of the messages whose deliveries changed.
DELIVERIES = (
    "SELECT m.group_id FROM messaging_message m WHERE m.id IN (SELECT message_id FROM changed)",
    "SELECT group_id FROM messaging_message WHERE id = {row}.message_id",
)
# An update counts only when it moves what receipts show (a pipeline's touch of updated_at
# on rows still sending does not).
DELIVERIES_MOVED = (
    "SELECT m.group_id FROM messaging_message m WHERE m.id IN ("
    " SELECT c.message_id FROM changed c JOIN before b ON b.id = c.id"
    " WHERE c.status IS DISTINCT FROM b.status OR c.recipient_id IS DISTINCT FROM b.recipient_id)",
    DELIVERIES[1],
)
DELIVERIES_MOVED_WHEN = "OLD.status IS NOT NEW.status OR OLD.recipient_id IS NOT NEW.recipient_id"


def create_triggers(apps, schema_editor):
    stamps.create(
        schema_editor, "messaging_message", dict.fromkeys(("INSERT", "UPDATE", "DELETE"), MESSAGES)
    )
    stamps.create(
        schema_editor,
        "messaging_delivery",
        {"INSERT": DELIVERIES, "UPDATE": DELIVERIES_MOVED, "DELETE": DELIVERIES},
        update_when=DELIVERIES_MOVED_WHEN,
    )


def drop_triggers(apps, schema_editor):
    stamps.drop(schema_editor, "messaging_message")
    stamps.drop(schema_editor, "messaging_delivery")


class Migration(migrations.Migration):
    dependencies = [
        ("groups", "0005_history_stamp"),
        ("messaging", "0011_fewer_delivery_indexes"),
    ]

    operations = [migrations.RunPython(create_triggers, drop_triggers)]
