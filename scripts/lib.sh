# Shared by scripts/run and scripts/test: install what is missing, never what is there.
# shellcheck shell=bash
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
export PATH="$VENV/bin:$PATH"
cd "$ROOT"

say() { printf '\033[1m==>\033[0m %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null 2>&1; then sudo "$@"
  else die "need root to run: $* (install it yourself, then run again)"; fi
}

APT_UPDATED=0
apt_install() {
  command -v apt-get >/dev/null 2>&1 || die "missing $*; this script installs with apt (Debian/Ubuntu): install them yourself"
  say "installing Debian packages: $*"
  if [ "$APT_UPDATED" = 0 ]; then as_root apt-get update -qq; APT_UPDATED=1; fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

find_python() {
  for candidate in "${PYTHON:-}" python3.11 python3; do
    [ -n "$candidate" ] || continue
    if command -v "$candidate" >/dev/null 2>&1 &&
       "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  return 1
}

ensure_system_packages() {
  local missing=()
  local python; python="$(find_python)" || { apt_install python3.11 python3.11-venv python3.11-dev; python="$(find_python)" || die "Python 3.11 is required"; }
  "$python" -c 'import venv, ensurepip' 2>/dev/null || missing+=(python3.11-venv)
  "$python" -c 'import os, sysconfig; assert os.path.exists(os.path.join(sysconfig.get_paths()["include"], "Python.h"))' 2>/dev/null || missing+=(python3.11-dev)
  command -v gcc >/dev/null 2>&1 || missing+=(build-essential)
  command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
  # mysqlclient builds from source against MariaDB's client library.
  pkg-config --exists libmariadb 2>/dev/null || pkg-config --exists mysqlclient 2>/dev/null || missing+=(libmariadb-dev)
  if [ "${#missing[@]}" -gt 0 ]; then apt_install "${missing[@]}"; fi
  PYTHON_BIN="$python"
}

ensure_venv() {
  local stamp="$VENV/.installed" want
  want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
  if [ ! -x "$PY" ]; then
    say "creating the virtual environment in .venv"
    "$PYTHON_BIN" -m venv "$VENV"
  fi
  if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    say "installing Python packages (pyproject.toml)"
    mkdir -p "$ROOT/var"
    if ! { "$PY" -m pip install --upgrade pip && "$PY" -m pip install -e ".[dev]"; } >"$ROOT/var/pip.log" 2>&1; then
      tail -n 30 "$ROOT/var/pip.log" >&2
      die "pip install failed (full log: var/pip.log)"
    fi
    echo "$want" >"$stamp"
  fi
}

# Exports the variables of .env (or $ENV_FILE) that the environment leaves unset, parsed as the
# service parses it (django-environ), so this script and the processes it starts agree.
load_env_file() {
  local file="${ENV_FILE:-$ROOT/.env}"
  [ -f "$file" ] || return 0
  say "reading $file"
  eval "$("$PY" - "$file" <<'PY'
import os, shlex, sys
import environ
values = {}
environ.Env.read_env(sys.argv[1], overwrite=False)  # fills os.environ as the service does
for line in open(sys.argv[1], encoding="utf8"):
    name = line.split("=", 1)[0].strip().removeprefix("export ").strip()
    if "=" in line and not line.lstrip().startswith("#") and name in os.environ:
        values[name] = os.environ[name]
print("\n".join(f"export {k}={shlex.quote(v)}" for k, v in values.items()))
PY
)"
}

# Answers 0 when something speaks Redis at $1.
redis_answers() { "$PY" - "$1" <<'PY' 2>/dev/null
import sys, redis
try:
    redis.Redis.from_url(sys.argv[1], socket_connect_timeout=1, socket_timeout=1).ping()
except Exception:
    sys.exit(1)
PY
}

ensure_redis() {
  local url="$1" host port
  redis_answers "$url" && return 0
  read -r host port < <("$PY" -c 'import sys; from urllib.parse import urlsplit; u = urlsplit(sys.argv[1]); print(u.hostname or "127.0.0.1", u.port or 6379)' "$url")
  case "$host" in
    127.0.0.1|localhost|::1) ;;
    *) die "Redis does not answer at $url: start it there, or set REDIS_URL to one that answers" ;;
  esac
  if ! command -v redis-server >/dev/null 2>&1; then
    [ "${NO_INSTALL:-0}" = 1 ] && die "Redis does not answer at $url and redis-server is not installed: apt-get install redis-server"
    apt_install redis-server
    redis_answers "$url" && return 0   # the package may have started it
  fi
  say "starting redis-server on 127.0.0.1:$port"
  mkdir -p "$ROOT/var"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$port" --save "" --appendonly no \
    --dir "$ROOT/var" --logfile "$ROOT/var/redis-$port.log" >/dev/null
  for _ in $(seq 50); do redis_answers "$url" && return 0; sleep 0.2; done
  die "redis-server did not start on port $port (see var/redis-$port.log)"
}

mariadb_answers() { "$PY" - "$1" <<'PY' 2>/dev/null
import sys, MySQLdb
from urllib.parse import urlsplit, unquote
u = urlsplit(sys.argv[1])
try:
    MySQLdb.connect(host=u.hostname, port=u.port or 3306, user=unquote(u.username or "root"),
                    password=unquote(u.password or ""), connect_timeout=2).close()
except Exception:
    sys.exit(1)
PY
}

ensure_mariadb() {
  local url="$1" installed=0
  mariadb_answers "$url" && return 0
  if [ ! -x /usr/sbin/mariadbd ]; then
    apt_install mariadb-server
    installed=1
  fi
  if ! mariadb_answers "$url"; then
    say "starting MariaDB"
    as_root install -d -o mysql -g mysql /run/mysqld
    as_root start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
    for _ in $(seq 60); do
      mariadb-admin --silent ping >/dev/null 2>&1 && break
      mariadb_answers "$url" && break
      sleep 0.5
    done
  fi
  if [ "$installed" = 1 ] && ! mariadb_answers "$url"; then
    # A fresh Debian install lets root in only through the socket; the suite connects over
    # TCP as root with an empty password, as CI's machine does.
    as_root mariadb -e "ALTER USER 'root'@'localhost' IDENTIFIED VIA unix_socket OR mysql_native_password USING PASSWORD('')"
  fi
  mariadb_answers "$url" || die "MariaDB does not answer at ${url}"
}

# The page's browser tests use Debian's Chromium and ChromeDriver (never a downloaded build).
ensure_chromium() {
  local missing=()
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  [ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
  if [ "${#missing[@]}" -gt 0 ]; then apt_install "${missing[@]}"; fi
}

# The test suite's environment (scripts/test, scripts/mutation): real MariaDB and Redis.
# Several checkouts on one machine can test side by side with their own database and Redis db:
# TEST_LIBRARY_DB also names the test library database (test_<name>) pytest-django creates.
test_environment() {
  export TEST_MYSQL_URL="${TEST_MYSQL_URL:-mysql://root@127.0.0.1:3306}"
  # Several checkouts on one machine can test side by side with their own database and Redis db.
  export REDIS_URL="${TEST_REDIS_URL:-redis://127.0.0.1:6379/13}"
  TEST_LIBRARY_DB="${TEST_LIBRARY_DB:-library_dashboard_ci}"
  export LIBRARY_TEST_DATABASE="${LIBRARY_TEST_DATABASE:-test_$TEST_LIBRARY_DB}"
  ensure_redis "$REDIS_URL"
  ensure_mariadb "$TEST_MYSQL_URL"
  export SECRET_KEY="test-only-secret-key-not-for-production"
  # A developer's .env configures scripts/run, never what the tests see.
  export ENV_FILE=/dev/null
  export DATA_DIR="$ROOT/var/test"
  unset LIBRARY_DATABASE_URL DATABASE_URL MYSQL_HOST MYSQL_DATABASE CELERY_BROKER_URL
  mkdir -p "$DATA_DIR"
}
