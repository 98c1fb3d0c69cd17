"""Yardsticks the service is compared with: bare ASGI apps on the same server, and a Node server."""
