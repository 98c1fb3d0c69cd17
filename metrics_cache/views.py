"""Operational endpoints."""

from django.http import JsonResponse
from django_redis import get_redis_connection
from redis.exceptions import RedisError


def health(request):
    """200 while Redis answers, 503 otherwise (the full contract comes with the snapshots)."""
    try:
        get_redis_connection("default").ping()
    except RedisError:
        return JsonResponse(
            {"status": "unavailable", "checks": {"redis": "unreachable"}}, status=503
        )
    return JsonResponse({"status": "ok", "checks": {"redis": "ok"}})
