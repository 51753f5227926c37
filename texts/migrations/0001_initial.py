# The OutboundSms model moves here from messaging, its table and rows staying as they are: only
# Django's picture of which app holds it changes (messaging 0009 drops it from messaging's).

from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("messaging", "0008_stop_confirmation"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name="OutboundSms",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                            ),
                        ),
                        ("to", models.CharField(max_length=20)),
                        ("from_number", models.CharField(blank=True, max_length=20)),
                        ("text", models.TextField()),
                        (
                            "kind",
                            models.CharField(
                                choices=[
                                    ("pin", "Pin"),
                                    ("welcome", "Welcome"),
                                    ("notice", "Notice"),
                                    ("reply", "Reply"),
                                    ("stop_confirmation", "Stop Confirmation"),
                                ],
                                max_length=20,
                            ),
                        ),
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("queued", "Queued"),
                                    ("sending", "Sending"),
                                    ("sent", "Sent"),
                                    ("failed", "Failed"),
                                    ("skipped", "Skipped"),
                                    ("unknown", "Unknown"),
                                ],
                                default="queued",
                                max_length=10,
                            ),
                        ),
                        ("error", models.CharField(blank=True, max_length=200)),
                        ("attempts", models.PositiveSmallIntegerField(default=0)),
                        ("provider_ref", models.CharField(blank=True, max_length=100)),
                        ("handoff", models.CharField(blank=True, max_length=32)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("updated_at", models.DateTimeField(auto_now=True)),
                    ],
                    options={
                        "verbose_name": "outbound SMS",
                        "verbose_name_plural": "outbound SMS",
                        "db_table": "messaging_outboundsms",
                        "ordering": ["id"],
                        "indexes": [
                            models.Index(
                                fields=["status", "updated_at"], name="messaging_o_status_feba9c_idx"
                            )
                        ],
                    },
                ),
            ],
        ),
    ]
