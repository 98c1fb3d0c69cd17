"""HTTP: the ASGI fast path in front of Django, the DRF views, the SSE stream and the page."""
