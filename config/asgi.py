"""The ASGI application served by daphne: Django behind the edge (client address, throttling,
cached reads straight from Redis; see metrics_cache.serving.edge)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

django_application = get_asgi_application()

from metrics_cache.serving.edge import Edge  # noqa: E402  (needs the apps loaded above)

application = Edge(django_application)
