# OutboundSms now belongs to the texts app (texts 0001); its table stays where it is.

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("messaging", "0008_stop_confirmation"),
        ("texts", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[migrations.DeleteModel(name="OutboundSms")],
        ),
    ]
