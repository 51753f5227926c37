# Each membership's message_count (groups 0004) starts from the messages it can see now, by
# the rule of messaging.actions.visible_messages: none sent while the member was away, and in
# a reply_to_owner group the owner-only messages only to the owner and their sender.

from django.db import migrations

COUNT_VISIBLE = """
UPDATE groups_membership AS ms SET message_count = (
    SELECT count(*) FROM messaging_message m
    JOIN groups_group g ON g.id = m.group_id
    WHERE m.group_id = ms.group_id
      AND NOT EXISTS (
          SELECT 1 FROM groups_absence a
          WHERE a.membership_id = ms.id AND a.left_at <= m.created_at
            AND (a.returned_at IS NULL OR a.returned_at > m.created_at))
      AND (g.owner_id = ms.member_id OR NOT m.owner_only
           OR EXISTS (SELECT 1 FROM groups_membership s
                      WHERE s.id = m.sender_id AND s.member_id = ms.member_id))
)
"""


class Migration(migrations.Migration):
    dependencies = [
        ("groups", "0004_membership_message_count"),
        ("messaging", "0009_outboundsms_moves_to_texts"),
    ]

    operations = [migrations.RunSQL(COUNT_VISIBLE, migrations.RunSQL.noop)]
