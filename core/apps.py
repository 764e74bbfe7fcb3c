from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Small cross-app building blocks (CSV import, safe redirects) shared by stores, catalog and later apps."""

    name = "core"
