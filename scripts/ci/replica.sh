#!/usr/bin/env bash
# A read-only streaming replica of the local PostgreSQL 15 (127.0.0.1:5432), made with
# pg_basebackup and served on 127.0.0.1:$REPLICA_PORT (default 5433), for the tests that point
# AUDIT_DATABASE_URL at a replica. Idempotent: a replica that already streams is left alone; a
# broken one is made anew. The primary is never restarted: it needs wal_level replica (the
# default), max_wal_senders > 0 (default 10) and a pg_hba.conf rule letting 127.0.0.1 replicate,
# which this script adds and loads with pg_reload_conf() when missing.
# Prints the replica's URL on its last line.
set -euo pipefail

PRIMARY="postgres://postgres@127.0.0.1:${PRIMARY_PORT:-5432}/postgres"
PORT="${REPLICA_PORT:-5433}"
DIR="${REPLICA_DIR:-/var/lib/postgresql/tiergate-replica-$PORT}"
REPLICA="postgres://postgres@127.0.0.1:$PORT/postgres"
BIN="$(pg_config --bindir)"
# PostgreSQL refuses to run as root; its files belong to the postgres user.
as_postgres() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
q() { psql "$1" -v ON_ERROR_STOP=1 -Atqc "$2"; }

if [ "$(q "$REPLICA" "SELECT pg_is_in_recovery() AND EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming')" 2>/dev/null)" = t ]; then
  echo "replica on port $PORT already streaming" >&2
  echo "postgres://postgres@127.0.0.1:$PORT"
  exit 0
fi

wal_level="$(q "$PRIMARY" 'SHOW wal_level')"
[ "$wal_level" != minimal ] || { echo "the primary has wal_level=minimal; streaming needs replica (a restart)" >&2; exit 1; }
[ "$(q "$PRIMARY" 'SHOW max_wal_senders')" -gt 0 ] || { echo "the primary has max_wal_senders=0; streaming needs at least 1 (a restart)" >&2; exit 1; }
# Can this host open a replication connection? pg_hba.conf is first match, so a missing or
# password-only replication rule gets a trust rule for 127.0.0.1 in front of the others.
can_replicate() { PGCONNECT_TIMEOUT=5 psql -w "host=127.0.0.1 port=${PRIMARY_PORT:-5432} user=postgres replication=true" -Atqc 'IDENTIFY_SYSTEM' >/dev/null 2>&1; }
if ! can_replicate; then
  hba="$(q "$PRIMARY" 'SHOW hba_file')"
  echo "adding a replication rule for 127.0.0.1 at the top of $hba" >&2
  { printf '# tiergate CI: streaming replica on this host (scripts/ci/replica.sh)\nhost replication all 127.0.0.1/32 trust\n'; cat "$hba"; } >"$hba.tiergate" && cat "$hba.tiergate" >"$hba" && rm "$hba.tiergate"
  q "$PRIMARY" 'SELECT pg_reload_conf()' >/dev/null
  sleep 1
  can_replicate || { echo "the primary still refuses replication connections from 127.0.0.1" >&2; exit 1; }
fi

# A replica that exists but does not stream is stopped and made anew.
if [ -f "$DIR/postmaster.pid" ]; then as_postgres "$BIN/pg_ctl" -D "$DIR" -m fast -w stop >/dev/null 2>&1 || true; fi
rm -rf "$DIR"
mkdir -p "$DIR"
chmod 700 "$DIR"
[ "$(id -u)" != 0 ] || chown postgres:postgres "$DIR"
as_postgres pg_basebackup -h 127.0.0.1 -p "${PRIMARY_PORT:-5432}" -U postgres -D "$DIR" -X stream -R -c fast

# A hot standby needs at least the primary's connection and worker limits.
as_postgres tee "$DIR/postgresql.conf" >/dev/null <<CONF
port = $PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '/tmp'
hot_standby = on
hot_standby_feedback = on
max_connections = $(q "$PRIMARY" 'SHOW max_connections')
max_worker_processes = $(q "$PRIMARY" 'SHOW max_worker_processes')
max_prepared_transactions = $(q "$PRIMARY" 'SHOW max_prepared_transactions')
max_locks_per_transaction = $(q "$PRIMARY" 'SHOW max_locks_per_transaction')
max_wal_senders = $(q "$PRIMARY" 'SHOW max_wal_senders')
CONF
printf 'local all all trust\nhost all all 127.0.0.1/32 trust\n' | as_postgres tee "$DIR/pg_hba.conf" >/dev/null
as_postgres touch "$DIR/pg_ident.conf"
as_postgres "$BIN/pg_ctl" -D "$DIR" -l "$DIR/replica.log" -w -t 120 start >/dev/null

for _ in $(seq 1 60); do
  if [ "$(q "$REPLICA" "SELECT pg_is_in_recovery() AND EXISTS (SELECT 1 FROM pg_stat_wal_receiver WHERE status = 'streaming')" 2>/dev/null)" = t ]; then
    echo "replica on port $PORT streaming from the primary" >&2
    echo "postgres://postgres@127.0.0.1:$PORT"
    exit 0
  fi
  sleep 1
done
echo "the replica on port $PORT did not start streaming; see $DIR/replica.log" >&2
exit 1
