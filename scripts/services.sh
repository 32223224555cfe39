#!/usr/bin/env bash
# Make Postgres 15+ and Redis 7 reachable for dev and tests, then create the
# Ballast database and its three roles. Idempotent: a second run changes nothing.
#
# - A server already answering on the standard local port (5432 / 6379) is used.
# - Otherwise a project-local instance is started from the system's binaries
#   under var/ on a free port.
# - Binaries missing on Debian as root: apt-get installs them; elsewhere the
#   exact command to run is printed.
# The DSNs are written to var/services.env, which dev/ci settings read, and the owner's to var/owner.env,
# which only scripts/with-owner.sh (migrate, the scheduler) and ci settings read.
# BALLAST_LOCAL_SERVICES=1 skips the servers on the standard ports and always uses project-local ones.
# APP_ENV=prod (from the environment or .env): nothing is installed, started or written; production's DSNs come
# from its environment. START_SERVICES_IF_NEEDED=false does the same in dev and ci (default: true there).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
log() { echo "services: $*" >&2; }
APP_ENV_SEEN="${APP_ENV:-}"
if [ -z "$APP_ENV_SEEN" ] && [ -f "$ROOT/.env" ]; then
  APP_ENV_SEEN=$(sed -n 's/^APP_ENV=//p' "$ROOT/.env" | tail -n 1 | tr -d '"'"'"' ')
fi
if [ "$APP_ENV_SEEN" = prod ]; then
  log "APP_ENV=prod: nothing is installed or started (production's Postgres and Redis come from its DSNs)"
  exit 0
fi
if [ "${START_SERVICES_IF_NEEDED:-true}" = false ]; then
  log "START_SERVICES_IF_NEEDED=false: nothing is installed or started"
  exit 0
fi
VAR="$ROOT/var"
ENV_FILE="$VAR/services.env"
OWNER_ENV_FILE="$VAR/owner.env"
DB_NAME="${BALLAST_DB_NAME:-ballast}"
OWNER_ROLE=ballast_owner
APP_ROLE=ballast_app
SYSTEM_ROLE=ballast_system
mkdir -p "$VAR"


port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
LOCAL_ONLY=${BALLAST_LOCAL_SERVICES:-0}
standard_open() { [ "$LOCAL_ONLY" != 1 ] && port_open "$1"; }

free_port() {
  local p=$1
  while port_open "$p"; do p=$((p + 1)); done
  echo "$p"
}

need_packages() {
  # $1: binary to look for, $2: Debian packages that provide it
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing $2 with apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $2 >/dev/null
  else
    log "$1 not found. Install it, then run this again:"
    log "  sudo apt-get install -y $2"
    exit 1
  fi
}

pg_bindir() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    [ -x "$d/initdb" ] && { echo "$d"; return; }
  done
  command -v initdb >/dev/null && dirname "$(command -v initdb)"
}

# ---------------------------------------------------------------- Postgres
PG_PORT=""
if [ -f "$ENV_FILE" ]; then
  PG_PORT=$(sed -n 's/^BALLAST_PG_PORT=//p' "$ENV_FILE")
  REDIS_PORT_SAVED=$(sed -n 's/^BALLAST_REDIS_PORT=//p' "$ENV_FILE")
fi

start_local_postgres() {
  local bindir port datadir="$VAR/postgres"
  bindir=$(pg_bindir || true)
  if [ -z "$bindir" ]; then
    need_packages initdb "postgresql postgresql-client"
    bindir=$(pg_bindir)
  fi
  # Reuse the port of a local instance started before; never the standard one.
  port=$PG_PORT
  if [ -z "$port" ] || [ "$port" = 5432 ]; then port=$(free_port 55432); fi
  local as=()
  if [ "$(id -u)" = 0 ]; then as=(runuser -u postgres --); chown -R postgres "$VAR" 2>/dev/null || true; fi
  if [ ! -f "$datadir/PG_VERSION" ]; then
    log "initdb in $datadir"
    mkdir -p "$datadir"; [ "$(id -u)" = 0 ] && chown postgres "$datadir"
    "${as[@]}" "$bindir/initdb" -D "$datadir" -U postgres --auth=trust -E UTF8 >/dev/null
  fi
  if ! port_open "$port"; then
    log "starting project-local Postgres on 127.0.0.1:$port"
    "${as[@]}" "$bindir/pg_ctl" -D "$datadir" -l "$datadir/server.log" -w \
      -o "-p $port -k /tmp -c listen_addresses=127.0.0.1" start >/dev/null
  fi
  PG_PORT=$port
}

if [ -n "$PG_PORT" ] && port_open "$PG_PORT" && { [ "$PG_PORT" != 5432 ] || standard_open 5432; }; then
  :
elif standard_open 5432; then
  PG_PORT=5432
elif [ "$LOCAL_ONLY" = 1 ]; then
  start_local_postgres
else
  PG_PORT=""
  # A running cluster installed by the system packages is preferred over a local one.
  if [ "$(id -u)" = 0 ] && command -v pg_ctlcluster >/dev/null && [ -n "$(ls /etc/postgresql 2>/dev/null)" ]; then
    log "starting the system Postgres cluster"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start || true
    sleep 1
  fi
  if port_open 5432; then PG_PORT=5432; else start_local_postgres; fi
fi

psql_super() {
  if psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres -tAq -c 'select 1' >/dev/null 2>&1; then
    psql -h 127.0.0.1 -p "$PG_PORT" -U postgres -v ON_ERROR_STOP=1 -tAq "$@"
  elif [ "$(id -u)" = 0 ] && runuser -u postgres -- psql -p "$PG_PORT" -tAq -c 'select 1' >/dev/null 2>&1; then
    runuser -u postgres -- psql -p "$PG_PORT" -v ON_ERROR_STOP=1 -tAq "$@"
  else
    log "cannot reach Postgres on 127.0.0.1:$PG_PORT as a superuser. Create the roles by hand:"
    log "  see docs/install.md, 'The database and its three roles'"
    exit 1
  fi
}

command -v psql >/dev/null || need_packages psql postgresql-client

for i in $(seq 1 30); do psql_super -d postgres -c 'select 1' >/dev/null 2>&1 && break; sleep 0.5; done

# The roles and the schema rights live in scripts/sql/ (the private test clusters use them too).
psql_super -d postgres < "$ROOT/scripts/sql/roles.sql"

if [ -z "$(psql_super -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'")" ]; then
  log "creating database $DB_NAME"
  psql_super -d postgres -c "CREATE DATABASE $DB_NAME OWNER $OWNER_ROLE"
fi
psql_super -d "$DB_NAME" < "$ROOT/scripts/sql/schema.sql"

# ------------------------------------------------------------------- Redis
REDIS_PORT=""
if [ -n "${REDIS_PORT_SAVED:-}" ] && port_open "$REDIS_PORT_SAVED" && { [ "$REDIS_PORT_SAVED" != 6379 ] || standard_open 6379; }; then
  REDIS_PORT=$REDIS_PORT_SAVED
elif standard_open 6379; then
  REDIS_PORT=6379
else
  if ! command -v redis-server >/dev/null; then need_packages redis-server redis-server; fi
  REDIS_PORT=${REDIS_PORT_SAVED:-}
  if [ -z "$REDIS_PORT" ] || [ "$REDIS_PORT" = 6379 ]; then REDIS_PORT=$(free_port 56379); fi
  mkdir -p "$VAR/redis"
  log "starting project-local Redis on 127.0.0.1:$REDIS_PORT"
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no \
    --dir "$VAR/redis" --logfile "$VAR/redis/redis.log" --pidfile "$VAR/redis/redis.pid"
  for i in $(seq 1 30); do port_open "$REDIS_PORT" && break; sleep 0.2; done
fi

write_if_changed() {  # $1: file; stdin: its content
  cat > "$1.tmp"
  if ! cmp -s "$1.tmp" "$1" 2>/dev/null; then mv "$1.tmp" "$1"; else rm "$1.tmp"; fi
}
write_if_changed "$ENV_FILE" <<ENV
# Written by scripts/services.sh; read by dev/ci settings. Real environment variables win.
BALLAST_PG_PORT=$PG_PORT
BALLAST_REDIS_PORT=$REDIS_PORT
POSTGRES_DSN=postgres://$APP_ROLE:$APP_ROLE@127.0.0.1:$PG_PORT/$DB_NAME
POSTGRES_SYSTEM_DSN=postgres://$SYSTEM_ROLE:$SYSTEM_ROLE@127.0.0.1:$PG_PORT/$DB_NAME
ENV
# The owner's DSN lives apart: only migrate and the scheduler get it (scripts/with-owner.sh), and ci settings.
write_if_changed "$OWNER_ENV_FILE" <<ENV
# Written by scripts/services.sh; read by scripts/with-owner.sh and by ci settings only.
POSTGRES_OWNER_DSN=postgres://$OWNER_ROLE:$OWNER_ROLE@127.0.0.1:$PG_PORT/$DB_NAME
ENV
log "Postgres on 127.0.0.1:$PG_PORT (database $DB_NAME), Redis on 127.0.0.1:$REDIS_PORT"
