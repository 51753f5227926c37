import os

from django.core.wsgi import get_wsgi_application

from groupflier.startup import refuse_if_misconfigured

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "groupflier.settings")
application = get_wsgi_application()
# Exit status 3 is gunicorn's "worker failed to boot": its master then stops, rather than
# starting worker after worker that each fail the same way.
refuse_if_misconfigured("web process", exit_code=3)
