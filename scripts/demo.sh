#!/usr/bin/env bash
# Installs what is needed, builds shardcast and runs the demo on loopback:
# a source PostgreSQL, three shard databases, the Kafka-protocol broker,
# shardcast itself (creating the shard tables, then an initial snapshot of the
# rows the source already holds), a workload, then where the rows landed,
# verify, an online re-seed with its progress, status, the checkpoint, and a Kafka
# consumer's (kcat) view of the feed.
# Everything lives under .demo/ and is stopped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
scripts/install-deps.sh
echo "=== building (Release)"
cmake -S . -B build/release -DCMAKE_BUILD_TYPE=Release -DSHARDCAST_TESTS=ON -DSHARDCAST_BENCH=OFF >/dev/null
cmake --build build/release -j"$(nproc)" --target shardcast shardcast_mock_broker
BIN=$ROOT/build/release/daemon/shardcast
BROKER_BIN=$ROOT/build/release/tests/shardcast_mock_broker

DEMO=$ROOT/.demo
rm -rf "$DEMO"; mkdir -p "$DEMO"
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
AS=()
if [ "$(id -u)" -eq 0 ]; then
  # PostgreSQL refuses to run as root: run it as an unprivileged user.
  id shardcast-demo >/dev/null 2>&1 || useradd --system --no-create-home shardcast-demo
  chown shardcast-demo "$DEMO"
  AS=(runuser -u shardcast-demo --)
fi
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }

start_pg() {  # name port
  local dir=$DEMO/$1
  "${AS[@]}" "$PGBIN/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 --locale=C >/dev/null
  cat >>"$dir/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $2
unix_socket_directories = '$dir'
wal_level = logical
max_prepared_transactions = 10
CONF
  "${AS[@]}" "$PGBIN/pg_ctl" -D "$dir" -l "$dir/server.log" -w start >/dev/null
}

cleanup() {
  [ -n "${SC_PID:-}" ] && kill "$SC_PID" 2>/dev/null && wait "$SC_PID" 2>/dev/null || true
  [ -n "${BROKER_PID:-}" ] && kill "$BROKER_PID" 2>/dev/null || true
  for d in source shards; do
    [ -d "$DEMO/$d" ] && "${AS[@]}" "$PGBIN/pg_ctl" -D "$DEMO/$d" -m fast stop >/dev/null 2>&1 || true
  done
}
trap cleanup EXIT

SRC_PORT=$(free_port); SHARD_PORT=$(free_port)
echo "=== starting the source PostgreSQL (port $SRC_PORT) and the shard server (port $SHARD_PORT)"
start_pg source "$SRC_PORT"
start_pg shards "$SHARD_PORT"
psql_src() { psql -X -q -v ON_ERROR_STOP=1 "host=127.0.0.1 port=$SRC_PORT user=postgres dbname=app" "$@"; }
psql_shard() { psql -X -q -v ON_ERROR_STOP=1 "host=127.0.0.1 port=$SHARD_PORT user=postgres dbname=$1" "${@:2}"; }
DDL="CREATE TABLE orders (id bigint PRIMARY KEY, account_id bigint NOT NULL, item text, amount numeric(10,2),
       placed_at timestamptz DEFAULT now());
     CREATE TABLE countries (code text PRIMARY KEY, name text NOT NULL);"
psql -X -q "host=127.0.0.1 port=$SRC_PORT user=postgres dbname=postgres" -c "CREATE DATABASE app"
psql_src -c "$DDL" -c "ALTER TABLE orders REPLICA IDENTITY FULL"
echo "=== the source already holds 50000 orders: the initial snapshot will copy them"
psql_src -c "INSERT INTO orders (id, account_id, item, amount) SELECT g, g % 500, 'old item ' || g, g * 0.5 FROM generate_series(1, 50000) g"
for i in 0 1 2; do
  psql -X -q "host=127.0.0.1 port=$SHARD_PORT user=postgres dbname=postgres" -c "CREATE DATABASE shard$i"
done

echo "=== starting the Kafka-protocol broker"
"$BROKER_BIN" --port-file "$DEMO/bootstrap" </dev/null >"$DEMO/broker.log" 2>&1 &
BROKER_PID=$!
for _ in $(seq 100); do [ -s "$DEMO/bootstrap" ] && break; sleep 0.1; done
BOOTSTRAP=$(cat "$DEMO/bootstrap")
echo "    bootstrap servers: $BOOTSTRAP"

cat >"$DEMO/shardcast.yaml" <<YAML
source:
  dsn: "host=127.0.0.1 port=$SRC_PORT dbname=app user=postgres"
tables:
  - name: public.orders
    shard_key: [account_id]
  - name: public.countries
    mode: reference
shards:
  - { id: s0, dsn: "host=127.0.0.1 port=$SHARD_PORT dbname=shard0 user=postgres" }
  - { id: s1, dsn: "host=127.0.0.1 port=$SHARD_PORT dbname=shard1 user=postgres" }
  - { id: s2, dsn: "host=127.0.0.1 port=$SHARD_PORT dbname=shard2 user=postgres" }
kafka:
  brokers: "$BOOTSTRAP"
checkpoint: { dir: $DEMO/checkpoint }
snapshot: { workers: 2, chunk_rows: 10000 }
admin: { listen: "127.0.0.1:$(free_port)" }
metrics: { listen: "127.0.0.1:$(free_port)" }
YAML

echo "=== shardcast check --create-missing (the shard databases are empty: it creates the tables)"
"$BIN" check -c "$DEMO/shardcast.yaml" --create-missing
echo "=== starting shardcast"
"$BIN" run -c "$DEMO/shardcast.yaml" >"$DEMO/shardcast.log" 2>&1 &
SC_PID=$!
for _ in $(seq 600); do
  grep -q "initial snapshot done" "$DEMO/shardcast.log" && break
  sleep 0.1
done
grep -o "initial snapshot done.*" "$DEMO/shardcast.log" | sed 's/^/    /'

echo "=== workload: 1000 orders over 50 accounts, updates, shard-key moves, deletes, reference rows"
psql_src <<'SQL'
INSERT INTO countries VALUES ('de', 'Germany'), ('fr', 'France'), ('jp', 'Japan');
INSERT INTO orders (id, account_id, item, amount) SELECT 100000 + g, g % 50, 'item ' || g, g * 1.25 FROM generate_series(1, 1000) g;
UPDATE orders SET amount = amount * 2 WHERE id % 10 = 0;
UPDATE orders SET account_id = account_id + 100 WHERE id % 25 = 0;   -- moves rows to another shard
DELETE FROM orders WHERE id % 40 = 0;
UPDATE countries SET name = 'Nippon' WHERE code = 'jp';
SQL
TARGET=$(psql_src -At -c "SELECT pg_current_wal_insert_lsn()")
for i in 0 1 2; do
  for _ in $(seq 300); do
    [ "$(psql_shard "shard$i" -At -c "SELECT count(*) FROM shardcast.progress WHERE end_lsn >= '$TARGET'" 2>/dev/null)" = 1 ] && break
    sleep 0.2
  done
done

echo "=== where the rows landed"
printf "%-8s %8s %10s\n" database orders countries
printf "%-8s %8s %10s\n" source "$(psql_src -At -c 'SELECT count(*) FROM orders')" "$(psql_src -At -c 'SELECT count(*) FROM countries')"
for i in 0 1 2; do
  printf "%-8s %8s %10s\n" "s$i" "$(psql_shard "shard$i" -At -c 'SELECT count(*) FROM orders')" \
    "$(psql_shard "shard$i" -At -c 'SELECT count(*) FROM countries')"
done

echo "=== shardcast verify (holds the daemon at one position, compares by range hashes)"
"$BIN" verify -c "$DEMO/shardcast.yaml" || true

echo "=== a shard loses rows; shardcast snapshot re-seeds the table online"
psql_shard shard1 -c "DELETE FROM orders WHERE id % 3 = 0"
"$BIN" verify -c "$DEMO/shardcast.yaml" | head -n 8 || true
"$BIN" snapshot -c "$DEMO/shardcast.yaml" --table public.orders
"$BIN" verify -c "$DEMO/shardcast.yaml" | head -n 6 || true

echo "=== shardcast status (from the running daemon's admin API)"
"$BIN" status -c "$DEMO/shardcast.yaml" || true
echo "=== stopping shardcast (SIGTERM drains and checkpoints)"
kill "$SC_PID"; wait "$SC_PID" || true; SC_PID=
echo "=== checkpoint"
"$BIN" checkpoint show -c "$DEMO/shardcast.yaml"

echo "=== a Kafka consumer's view (kcat): the last 3 messages of shardcast.public.orders"
kcat -b "$BOOTSTRAP" -C -t shardcast.public.orders -o beginning -e -q \
  -f 'partition %p offset %o key %k headers %h\n%s\n' 2>/dev/null | tail -n 6
echo "=== shardcast log: $DEMO/shardcast.log"
