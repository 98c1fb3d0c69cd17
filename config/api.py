"""Settings of Django REST framework and of the API's documentation (drf-spectacular), read by
config.settings."""

REST_FRAMEWORK = {
    # No endpoint takes query parameters: ?format=xyz is ignored like any other (the contract).
    "URL_FORMAT_OVERRIDE": None,
    # Every error in one JSON shape: {"status", "message"} (metrics_cache.serving.errors).
    "EXCEPTION_HANDLER": "metrics_cache.serving.errors.drf_exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    # Throttling happens in front of Django, on every URL (metrics_cache.serving.edge).
    "DEFAULT_THROTTLE_CLASSES": [],
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Library Dashboard API",
    "DESCRIPTION": "A SLiMS library's statistics: today live, the rest as daily snapshots.",
    "VERSION": "1.0.0",
    # Swagger UI from drf-spectacular-sidecar: served by the service, no CDN needed.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "TAGS": [
        {"name": "Visitors", "description": "Visits: today's live count and daily snapshots"},
        {"name": "Books", "description": "Collection, top borrowed titles and borrowers"},
        {"name": "Reports", "description": "Visits and loans over any period, CSV and XLSX"},
        {"name": "Network", "description": "Many libraries: each one's figures and their total"},
        {"name": "Operations", "description": "Health and monitoring"},
    ],
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "metrics_cache.serving.openapi.document_extra_paths",
    ],
    "SERVE_INCLUDE_SCHEMA": False,
}
