#!/usr/bin/env bash
# Captures the pgoutput decoder fixtures in tests/fixtures/pgoutput/ from a
# throwaway PostgreSQL (initdb + pg_ctl in a temporary directory, on a free
# loopback port; run as an unprivileged user when we are root, as the C++
# harness does). The server is stopped and removed on exit.
#
#   scripts/capture-fixtures.sh [BUILD_DIR]     (default: build)
set -euo pipefail

root_dir=$(cd "$(dirname "$0")/.." && pwd)
build_dir=${1:-$root_dir/build}
out_dir=$root_dir/tests/fixtures/pgoutput
bin_dir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)

cmake --build "$build_dir" --target capture_pgoutput >/dev/null 2>&1
capture=$build_dir/tests/capture_pgoutput

tmp=$(mktemp -d /tmp/shardcast-fixtures.XXXXXX)
as_server=()
if [ "$(id -u)" = 0 ]; then
  id shardcast-test >/dev/null 2>&1 ||
    useradd --system --no-create-home --shell /usr/sbin/nologin shardcast-test
  chown shardcast-test "$tmp"
  as_server=(runuser -u shardcast-test --)
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')

cleanup() {
  "${as_server[@]}" "$bin_dir/pg_ctl" -D "$tmp/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT

"${as_server[@]}" "$bin_dir/initdb" -D "$tmp/data" -U postgres -A trust -E UTF8 --locale=C >"$tmp/initdb.log"
cat >>"$tmp/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$tmp'
wal_level = logical
max_wal_senders = 4
max_replication_slots = 4
CONF
"${as_server[@]}" "$bin_dir/pg_ctl" -D "$tmp/data" -l "$tmp/server.log" -w start >/dev/null

dsn="host=127.0.0.1 port=$port user=postgres dbname=postgres"
psql() { "$bin_dir/psql" "$dsn" -X -q -v ON_ERROR_STOP=1 "$@"; }

psql >/dev/null <<'SQL'
CREATE TABLE t_types (id int4 PRIMARY KEY, big int8, txt text, num numeric(12,3), flag boolean,
                      tstz timestamptz, ts timestamp, doc jsonb, raw bytea);
-- Stored out of line and uncompressed, so an update that leaves it alone sends 'u'.
ALTER TABLE t_types ALTER COLUMN txt SET STORAGE EXTERNAL;
CREATE TABLE t_full (id int4, note text);
ALTER TABLE t_full REPLICA IDENTITY FULL;
CREATE TABLE t_trunc (id int4 PRIMARY KEY);
CREATE TYPE mood AS ENUM ('sad', 'happy');
CREATE TABLE t_enum (id int4 PRIMARY KEY, m mood);
CREATE PUBLICATION fixture_pub FOR TABLE t_types, t_full, t_trunc, t_enum;
SELECT pg_replication_origin_create('fixture_origin');
SELECT pg_create_logical_replication_slot('fixture_slot', 'pgoutput') \gset
SQL

# The workload; each numbered block is one committed transaction.
psql >/dev/null <<'SQL'
SET TimeZone = 'UTC';
-- 1: every type, and a row of NULLs
BEGIN;
INSERT INTO t_types VALUES (1, 9000000000, 'hello', 12345.678, true, '2024-01-02 03:04:05.123456+00',
                            '2024-01-02 03:04:05', '{"a": [1, 2]}', '\x00ff10');
INSERT INTO t_types (id) VALUES (2);
COMMIT;
-- 2: a TOAST-sized text value
INSERT INTO t_types (id, txt) VALUES (3, repeat('abcdefghij', 300));
-- 3: update leaving the TOASTed value unchanged ('u')
UPDATE t_types SET big = 7 WHERE id = 3;
-- 4: update changing the primary key (old key tuple 'K')
UPDATE t_types SET id = 10 WHERE id = 1;
-- 5: delete (key tuple 'K')
DELETE FROM t_types WHERE id = 2;
-- 6: REPLICA IDENTITY FULL: insert, update and delete carry the old row ('O')
BEGIN;
INSERT INTO t_full VALUES (1, 'a'), (2, NULL);
UPDATE t_full SET note = 'b' WHERE id = 1;
DELETE FROM t_full WHERE id = 2;
COMMIT;
-- 7: truncate of two tables with RESTART IDENTITY
INSERT INTO t_trunc VALUES (1);
TRUNCATE t_trunc, t_full RESTART IDENTITY;
-- 9: a transactional logical message beside a row
BEGIN;
INSERT INTO t_trunc VALUES (2);
SELECT pg_logical_emit_message(true, 'shardcast', 'transactional hello');
COMMIT;
-- outside any transaction: a non-transactional message
SELECT pg_logical_emit_message(false, 'shardcast', 'non-transactional');
-- 10: a schema change (a new Relation) and a row using it
ALTER TABLE t_trunc ADD COLUMN extra text;
INSERT INTO t_trunc VALUES (3, 'x');
-- 11: a user-defined type (a Type message before the Relation)
INSERT INTO t_enum VALUES (1, 'happy');
-- 12: a transaction replayed from another origin (an Origin message)
SELECT pg_replication_origin_session_setup('fixture_origin');
BEGIN;
SELECT pg_replication_origin_xact_setup('0/ABCDEF', '2024-01-01 00:00:00+00');
INSERT INTO t_enum VALUES (2, 'sad');
COMMIT;
SQL

"$capture" "$dsn" fixture_slot fixture_pub "$out_dir/mixed.frames" 12 60
