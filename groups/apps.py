from django.apps import AppConfig
from django.db.models.signals import post_migrate


class GroupsConfig(AppConfig):
    name = "groups"

    def ready(self):
        from groups.pool import sync_pool_from_settings

        post_migrate.connect(sync_pool_from_settings, sender=self)
