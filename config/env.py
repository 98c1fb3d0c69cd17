"""Strict readers for the environment: a malformed value fails at start-up naming its variable."""

from __future__ import annotations

import ipaddress
import os
import zoneinfo
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured

env = environ.Env()

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def read_env_file(path: Path) -> None:
    """A .env file (KEY=value lines) fills in what the environment leaves unset; the
    environment always wins, so a deployment can override any line of it."""
    if path.is_file():
        environ.Env.read_env(path, overwrite=False)


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return None
    return value.strip()


def _bad(name: str, raw: str, expected: str) -> ImproperlyConfigured:
    return ImproperlyConfigured(f"{name}={raw!r} is not valid: expected {expected}")


def env_str(name: str, default: str | None = None) -> str | None:
    raw = _raw(name)
    return default if raw is None else raw


def env_required(name: str, hint: str) -> str:
    raw = _raw(name)
    if raw is None:
        raise ImproperlyConfigured(f"{name} is not set: {hint}")
    return raw


def env_bool(name: str, default: bool) -> bool:
    raw = _raw(name)
    if raw is None:
        return default
    if raw.lower() in _TRUE:
        return True
    if raw.lower() in _FALSE:
        return False
    raise _bad(name, raw, "true or false")


def env_int(name: str, default: int, *, minimum: int = 0, maximum: int | None = None) -> int:
    raw = _raw(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _bad(name, raw, "a whole number") from None
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and at most {maximum}" if maximum is not None else ""
        raise _bad(name, raw, f"a number at least {minimum}{upper}")
    return value


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    raw = _raw(name)
    if raw is None:
        return default
    if raw.lower() not in choices:
        raise _bad(name, raw, "one of " + ", ".join(choices))
    return raw.lower()


def env_list(name: str, default: list[str]) -> list[str]:
    raw = _raw(name)
    if raw is None:
        return default
    return [part.strip() for part in raw.split(",") if part.strip()]


def env_rate(name: str, default: str) -> str:
    """A DRF throttle rate: a number of requests per second, minute, hour or day."""
    raw = _raw(name) or default
    number, _, period = raw.partition("/")
    if not number.isdigit() or period not in {"s", "sec", "second", "m", "min", "minute",
                                              "h", "hour", "d", "day"}:  # fmt: skip
        raise _bad(name, raw, "requests per period, e.g. 600/min")
    return raw


def env_networks(name: str) -> list[str]:
    """Addresses or CIDR ranges (`10.0.0.1, 172.16.0.0/12`), checked at start-up."""
    networks = []
    for part in env_list(name, []):
        try:
            networks.append(str(ipaddress.ip_network(part, strict=False)))
        except ValueError:
            raise _bad(name, part, "IP addresses or CIDR ranges, comma-separated") from None
    return networks


def env_addresses(name: str) -> list[tuple[str, int]]:
    """host:port pairs, comma-separated (`10.0.0.5:26379, 10.0.0.6:26379`)."""
    found = []
    for part in env_list(name, []):
        host, _, port = part.rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise _bad(name, part, "host:port pairs, comma-separated")
        found.append((host.strip("[]"), int(port)))
    return found


def time_zone_or_none(raw: str) -> str | None:
    """`raw` if it names an IANA time zone, else None."""
    try:
        zoneinfo.ZoneInfo(raw)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return None
    return raw


def env_time_zone(name: str, default: str) -> str:
    raw = _raw(name) or default
    if time_zone_or_none(raw) is None:
        raise _bad(name, raw, "an IANA time zone such as Asia/Jakarta")
    return raw


def env_cron(name: str, default: str) -> str:
    """A five-field cron string (minute hour day-of-month month day-of-week)."""
    raw = _raw(name) or default
    fields = raw.split()
    if len(fields) != 5:
        raise _bad(name, raw, "five cron fields, e.g. '5 0 * * *'")
    minute, hour, day_of_month, month, day_of_week = fields
    try:
        crontab(
            minute=minute,
            hour=hour,
            day_of_month=day_of_month,
            month_of_year=month,
            day_of_week=day_of_week,
        )
    except ValueError as exc:
        raise _bad(name, raw, f"a valid cron expression ({exc})") from None
    return " ".join(fields)


_MYSQL_SCHEMES = {"mysql", "mysql2", "mariadb"}
_DATABASE_URL = "sqlite:///path/to/file or mysql://user:password@host:3306/name"
# How today's visitor count is kept (the contract's "Today's count: modes").
COUNT_MODES = ("direct", "delta", "incremental")


def database_config(raw: str) -> dict:
    """A Django DATABASES entry from sqlite:///path or mysql://user:pass@host:port/name;
    ValueError saying what was expected."""
    scheme = raw.split("://", 1)[0].lower() if "://" in raw else ""
    if scheme == "mariadb":
        raw = "mysql" + raw[len("mariadb") :]
    elif scheme not in _MYSQL_SCHEMES | {"sqlite"}:
        raise ValueError(f"is not valid: expected {_DATABASE_URL}")
    try:
        config = env.db_url_config(raw)
    except ValueError as exc:
        raise ValueError(f"is not valid ({exc}): expected {_DATABASE_URL}") from None
    if not config.get("NAME"):
        raise ValueError("is not valid: expected a URL that names the database")
    return config


def env_database(name: str, default: str) -> dict:
    """A database URL: sqlite:///path or mysql://user:pass@host:port/name."""
    raw = _raw(name) or default
    try:
        return database_config(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}={raw!r} {exc}") from None


def mysql_url_from_parts(prefix: str = "MYSQL_") -> str | None:
    """Builds a URL from MYSQL_HOST & co. when they are set (docker-style configuration)."""
    host = _raw(prefix + "HOST")
    database = _raw(prefix + "DATABASE")
    if host is None and database is None:
        return None
    if host is None or database is None:
        raise ImproperlyConfigured(f"{prefix}HOST and {prefix}DATABASE must be set together")
    port = env_int(prefix + "PORT", 3306, minimum=1, maximum=65535)
    user = _raw(prefix + "USER") or "root"
    password = os.environ.get(prefix + "PASSWORD", "")
    auth = quote(user, safe="") + (":" + quote(password, safe="") if password else "")
    return f"mysql://{auth}@{host}:{port}/{database}"


def redis_url_with_next_db(url: str) -> str:
    """redis://host:6379/0 -> redis://host:6379/1: Celery's broker apart from the cache."""
    parts = urlsplit(url)
    path = parts.path.strip("/")
    db = int(path) if path.isdigit() else 0
    return urlunsplit(parts._replace(path=f"/{db + 1}"))


def env_redis_url(name: str, default: str) -> str:
    raw = _raw(name) or default
    parts = urlsplit(raw)
    path = parts.path.strip("/")
    if parts.scheme not in {"redis", "rediss", "unix"} or (path and not path.isdigit()):
        raise _bad(name, raw, "redis://host:6379/0")
    return raw
