#!/usr/bin/env bash
# A throw-away PostgreSQL + PostGIS cluster for the PostgreSQL store tests.
#
#   scripts/pg_cluster.sh start   install Debian's postgresql + PostGIS when missing,
#                                 initdb into a temporary folder, start it on a free
#                                 port on 127.0.0.1, create a database with PostGIS;
#                                 prints the URL and writes it to .pg_test_url
#   scripts/pg_cluster.sh env     prints `export CRIMEMAP_TEST_PG_URL=...` (for eval)
#   scripts/pg_cluster.sh stop    stops the cluster and removes its folder
#
# The server never runs as root (PostgreSQL refuses): when we are root the
# cluster belongs to the `postgres` system user that Debian's package creates.
# Durability is switched off (fsync, synchronous_commit): the data is thrown away.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
URL_FILE="$REPO/.pg_test_url"
DIR_FILE="$REPO/.pg_test_dir"
DB=crimemap_test

log() { echo "pg_cluster: $*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    log "need root (or sudo) to run: $*"; return 1; fi
}

apt_install() {
  log "installing Debian packages: $*"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

pg_bindir() {
  # Highest installed server version (Debian keeps each under /usr/lib/postgresql/N).
  local v
  v=$(ls -1 /usr/lib/postgresql 2>/dev/null | sort -n | tail -1)
  [ -n "$v" ] && [ -x "/usr/lib/postgresql/$v/bin/initdb" ] && echo "/usr/lib/postgresql/$v/bin"
}

ensure_packages() {
  local bin v
  bin=$(pg_bindir || true)
  if [ -z "$bin" ]; then
    apt_install postgresql
    bin=$(pg_bindir)
  fi
  v=$(basename "$(dirname "$bin")")
  if [ ! -f "/usr/share/postgresql/$v/extension/postgis.control" ]; then
    # Debian names the extension package after the server version it builds for.
    apt_install "postgresql-$v-postgis-3"
  fi
  echo "$bin"
}

free_port() {
  local py
  py=$(command -v python3 || echo "$REPO/.venv/bin/python")
  "$py" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# Run a command as the cluster owner.
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

running() {
  [ -f "$DIR_FILE" ] && [ -f "$URL_FILE" ] || return 1
  local dir
  dir=$(cat "$DIR_FILE")
  [ -f "$dir/data/postmaster.pid" ] && as_owner "$(cat "$dir/bindir")/pg_ctl" -D "$dir/data" status >/dev/null 2>&1
}

start() {
  if running; then
    log "already running: $(cat "$URL_FILE")"
    cat "$URL_FILE"
    return 0
  fi
  # A cluster recorded but no longer running (machine restarted): clean it up first.
  [ -f "$DIR_FILE" ] && stop
  local bin dir port url
  bin=$(ensure_packages)
  dir=$(mktemp -d "${TMPDIR:-/tmp}/crimemap-pg.XXXXXX")
  echo "$bin" >"$dir/bindir"
  if [ "$(id -u)" = 0 ]; then
    id postgres >/dev/null 2>&1 || useradd --system --home-dir "$dir" --shell /usr/sbin/nologin postgres
    chown -R postgres: "$dir"
  fi
  chmod 700 "$dir"
  as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
    >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
  port=$(free_port)
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 start -o \
    "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=50" \
    >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
  echo "$dir" >"$DIR_FILE"
  as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres "$DB"
  as_owner "$bin/psql" -q -h 127.0.0.1 -p "$port" -U postgres -d "$DB" -v ON_ERROR_STOP=1 \
    -c "CREATE EXTENSION IF NOT EXISTS postgis"
  url="postgresql://postgres@127.0.0.1:$port/$DB"
  echo "$url" >"$URL_FILE"
  log "started PostgreSQL $(basename "$(dirname "$bin")") + PostGIS in $dir"
  echo "$url"
}

stop() {
  if [ ! -f "$DIR_FILE" ]; then
    log "no cluster recorded in $DIR_FILE"
    rm -f "$URL_FILE"
    return 0
  fi
  local dir
  dir=$(cat "$DIR_FILE")
  if [ -f "$dir/data/postmaster.pid" ]; then
    as_owner "$(cat "$dir/bindir")/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
  fi
  case "$dir" in
    */crimemap-pg.*) rm -rf "$dir" ;;
    *) log "refusing to remove unexpected folder $dir" ;;
  esac
  rm -f "$DIR_FILE" "$URL_FILE"
  log "stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  env)
    [ -f "$URL_FILE" ] || { log "no cluster: run '$0 start' first"; exit 1; }
    echo "export CRIMEMAP_TEST_PG_URL=$(cat "$URL_FILE")"
    ;;
  *)
    echo "usage: $0 start|stop|env" >&2
    exit 2
    ;;
esac
