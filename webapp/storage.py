"""Static files with content-hashed names, compressed, served by whitenoise with a cache
lifetime of a year (a new file gets a new name)."""

from whitenoise.storage import CompressedManifestStaticFilesStorage


class StaticStorage(CompressedManifestStaticFilesStorage):
    # The web app's ES modules import each other ("./api.js"): collectstatic rewrites those
    # imports to the hashed names too, so no module is ever fetched under a stale name.
    support_js_module_import_aggregation = True
