# Each group's message_total and each membership's hidden_count (groups 0006) start from the
# messages stored, by the rule of messaging.actions.visible_messages: a membership cannot see
# a message sent while the member was away, nor, in a reply_to_owner group, an owner-only
# message unless it is the owner's or its sender's. Only memberships that were ever away, or
# in a group with owner-only messages, can have any hidden: the others are left at 0 rather
# than each counting its group's messages.

from django.db import migrations

COUNT_MESSAGES = """
UPDATE groups_group SET message_total = (
    SELECT count(*) FROM messaging_message m WHERE m.group_id = groups_group.id
)
"""

COUNT_HIDDEN = """
UPDATE groups_membership SET hidden_count = (
    SELECT count(*) FROM messaging_message m
    JOIN groups_group g ON g.id = m.group_id
    WHERE m.group_id = groups_membership.group_id
      AND (EXISTS (
               SELECT 1 FROM groups_absence a
               WHERE a.membership_id = groups_membership.id AND a.left_at <= m.created_at
                 AND (a.returned_at IS NULL OR a.returned_at > m.created_at))
           OR (m.owner_only AND g.owner_id <> groups_membership.member_id
               AND (m.sender_id IS NULL OR m.sender_id <> groups_membership.id)))
)
WHERE id IN (SELECT membership_id FROM groups_absence)
   OR group_id IN (SELECT group_id FROM messaging_message WHERE owner_only)
"""


class Migration(migrations.Migration):
    dependencies = [
        ("groups", "0006_message_total_and_hidden_counts"),
        ("messaging", "0012_history_stamp_triggers"),
    ]

    operations = [
        migrations.RunSQL(COUNT_MESSAGES, migrations.RunSQL.noop),
        migrations.RunSQL(COUNT_HIDDEN, migrations.RunSQL.noop),
    ]
