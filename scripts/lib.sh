# Shared by scripts/dev, scripts/test and friends: find or start what the local stack
# needs, installing it where it is missing. Source it; do not run it.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${BIANXIAN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bianxian}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
PG_ADMIN_URL="${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}"
mkdir -p "$CACHE"

# Each step with the seconds since the script started, so a slow run shows where.
say() { printf '\033[1m==> [%ss] %s\033[0m\n' "$SECONDS" "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

apt_install() {
  if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    say "installing $* with apt-get"
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
  else
    die "$* is missing; install it (e.g. 'sudo apt-get install $*') and run this again"
  fi
}

pg_up() { pg_isready -q -h 127.0.0.1 -p 5432 2>/dev/null; }

ensure_postgres() {
  command -v pg_isready >/dev/null 2>&1 || apt_install postgresql postgresql-client
  pg_up && return 0
  say "starting PostgreSQL"
  if command -v pg_ctlcluster >/dev/null 2>&1; then
    local version
    version="$(ls /etc/postgresql 2>/dev/null | sort -V | tail -1)"
    [ -n "$version" ] || apt_install postgresql
    version="$(ls /etc/postgresql | sort -V | tail -1)"
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  fi
  for _ in $(seq 1 30); do pg_up && return 0; sleep 1; done
  die "PostgreSQL is not answering on 127.0.0.1:5432 (trust auth for user postgres expected)"
}

redis_up() { redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null | grep -q PONG; }

ensure_redis() {
  command -v redis-server >/dev/null 2>&1 || apt_install redis-server
  redis_up && return 0
  say "starting Redis"
  mkdir -p /var/lib/redis /var/log/redis 2>/dev/null || true
  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
    --dir /tmp --logfile /tmp/bianxian-redis.log >/dev/null
  for _ in $(seq 1 30); do redis_up && return 0; sleep 0.5; done
  die "Redis is not answering on 127.0.0.1:6379"
}

ensure_rust() {
  command -v cargo >/dev/null 2>&1 || die "cargo is missing: install Rust with rustup (https://rustup.rs)"
}

# A virtual environment with the tools pinned in a requirements file, cached by the
# hash of the pins; prints its directory.
pinned_venv() { # requirements file
  local pins="$1" venv
  venv="$CACHE/$(basename "$pins" .txt)-$(sha256sum "$pins" | cut -c1-12)"
  # The marker is written last, so an interrupted install is redone, not trusted.
  if [ ! -f "$venv/.complete" ]; then
    command -v python3 >/dev/null 2>&1 || apt_install python3 python3-venv
    say "installing the Python tools of ${pins#$ROOT/} into $venv"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check -r "$pins" >&2
    touch "$venv/.complete"
  fi
  echo "$venv"
}

# The local stack's Python tools (SAM, moto, localstripe, schemathesis...) on PATH.
ensure_venv() {
  VENV="$(pinned_venv "$ROOT/infra/local/requirements.txt")"
  export PATH="$VENV/bin:$PATH"
}

# The template auditors, apart: checkov's dependencies would fight SAM's.
ensure_audit_tools() {
  AUDIT_VENV="$(pinned_venv "$ROOT/infra/local/requirements-audit.txt")"
}

ensure_node_modules() {
  local dir="$1"
  command -v npm >/dev/null 2>&1 || apt_install nodejs npm
  if [ ! -d "$dir/node_modules" ] || [ "$dir/package-lock.json" -nt "$dir/node_modules" ]; then
    say "installing npm packages in ${dir#$ROOT/}"
    (cd "$dir" && npm ci --silent --no-audit --no-fund >/dev/null)
  fi
}

# The console's production build (console/dist), which the console function embeds
# (functions/console/build.rs): rebuilt when a source is newer than the build.
ensure_console() {
  ensure_node_modules "$ROOT/console"
  local built="$ROOT/console/dist/index.html"
  if [ ! -f "$built" ] || [ -n "$(find "$ROOT/console/src" "$ROOT/console/index.html" \
    "$ROOT/console/vite.config.ts" "$ROOT/console/package-lock.json" -newer "$built" -print -quit)" ]; then
    say "building the console"
    (cd "$ROOT/console" && npm run --silent build >"$CACHE/console-build.log" 2>&1) ||
      { cat "$CACHE/console-build.log"; die "the console does not build (cd console && npm run build)"; }
  fi
}

# Debian's Chromium for the browser tests (Playwright cannot download its own here),
# and a CJK font so Chinese renders in its screenshots rather than as boxes.
ensure_chromium() {
  [ -x /usr/bin/chromium ] || apt_install chromium
  [ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || apt_install fonts-wqy-microhei
}

# moto (SQS and SES v2 for the mail pipeline, S3 for media) from the pinned tools, on 127.0.0.1:$1.
# Sets MOTO_PID; the caller stops it. Its log goes to $CACHE/moto-$1.log.
start_moto() {
  local port="$1"
  ensure_venv
  moto_server -H 127.0.0.1 -p "$port" >"$CACHE/moto-$port.log" 2>&1 &
  MOTO_PID=$!
  for _ in $(seq 1 150); do
    curl -s -o /dev/null "http://127.0.0.1:$port/moto-api/data.json" && return 0
    kill -0 "$MOTO_PID" 2>/dev/null || break
    sleep 0.2
  done
  cat "$CACHE/moto-$port.log" >&2
  die "moto_server did not start on 127.0.0.1:$port"
}

# localstripe (Stripe's API and its signed webhooks) from the pinned tools, on
# 127.0.0.1:$1, empty: it would otherwise reload /tmp/localstripe.pickle.
start_localstripe() {
  local port="$1"
  ensure_venv
  localstripe --port "$port" --from-scratch >"$CACHE/localstripe-$port.log" 2>&1 &
  LOCALSTRIPE_PID=$!
  for _ in $(seq 1 150); do
    curl -s -o /dev/null "http://127.0.0.1:$port/js.stripe.com/v3/" && return 0
    kill -0 "$LOCALSTRIPE_PID" 2>/dev/null || break
    sleep 0.2
  done
  cat "$CACHE/localstripe-$port.log" >&2
  die "localstripe did not start on 127.0.0.1:$port"
}

# Points the AWS SDK at moto: any credentials do, real ones are never needed.
use_moto() {
  local endpoint="$1"
  export AWS_ENDPOINT_URL="$endpoint" AWS_REGION="${AWS_REGION:-us-east-1}"
  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing
  unset AWS_SESSION_TOKEN
}

# A TCP port nobody listens on right now.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_for_http() {
  local url="$1"
  for _ in $(seq 1 100); do
    curl -s -o /dev/null "$url" && return 0
    sleep 0.1
  done
  die "nothing answers at $url"
}

create_database() {
  local name="$1"
  psql "$PG_ADMIN_URL" -qtAc "SELECT 1 FROM pg_database WHERE datname = '$name'" | grep -q 1 ||
    psql "$PG_ADMIN_URL" -qc "CREATE DATABASE $name" >/dev/null
}

database_url() {
  local name="$1" base="${PG_ADMIN_URL%%\?*}" query=""
  case "$PG_ADMIN_URL" in *\?*) query="?${PG_ADMIN_URL#*\?}" ;; esac
  printf '%s/%s%s' "${base%/*}" "$name" "$query"
}

# The Redis key prefix of the stack on database $1: `bx:` (the default) for `bianxian`,
# `bx:NAME:` for another, so two local stacks on one Redis share no sessions or cache.
redis_key_prefix() {
  if [ "$1" = bianxian ]; then printf 'bx:'; else printf 'bx:%s:' "$1"; fi
}

# The token of the newest link to PATH mailed to RECIPIENT, read from the mail moto
# accepted, as a reader would open it (waits up to 10 s; prints nothing if none came).
mailed_token() { # moto endpoint, recipient, path
  python3 - "$@" <<'PY'
import email, json, re, sys, time, urllib.error, urllib.request
endpoint, recipient, path = sys.argv[1:4]
pattern = re.compile(re.escape(path) + r"\?token=([A-Za-z0-9_-]+)")
deadline = time.time() + 10
while time.time() < deadline:
    try:
        data = json.load(urllib.request.urlopen(endpoint + "/moto-api/data.json"))
    except urllib.error.HTTPError:
        # moto fails to list its models while an SQS queue changes: ask again.
        time.sleep(0.1)
        continue
    for message in reversed(data.get("ses", {}).get("RawMessage", [])):
        if recipient not in message.get("destinations", []):
            continue
        parsed = email.message_from_string(message.get("raw_data", ""))
        for part in parsed.walk():
            if part.get_content_type() == "text/plain":
                found = pattern.search(part.get_payload(decode=True).decode("utf-8"))
                if found:
                    print(found.group(1))
                    sys.exit(0)
    time.sleep(0.2)
PY
}

# Registers MEMBER on the gateway at BASE and completes it with the mailed link;
# prints the session the confirmation signs in (nothing on failure).
member_session() { # base url, moto endpoint, email, password
  local base="$1" moto="$2" address="$3" password="$4" token
  curl -s -o /dev/null -H 'Content-Type: application/json' "$base/auth/register" \
    -d "{\"email\":\"$address\",\"password\":\"$password\"}"
  token="$(mailed_token "$moto" "$address" /verify-email)"
  [ -n "$token" ] || return 0
  curl -s -H 'Content-Type: application/json' "$base/auth/verify-email/confirm" \
    -d "{\"token\":\"$token\"}" |
    python3 -c 'import sys, json; print(json.load(sys.stdin)["data"]["token"])' 2>/dev/null || true
}
