#!/usr/bin/env bash
# bench/scaling.sh — the scaling curve of docs/performance.md ("Scaling"):
# for each size N, a fresh database seeded by `historia demo --patients N`
# (timed: the fast demo), then `historia serve` driven by `historia load`
# with the default role mix; the per-endpoint tables go to OUT/N.md.
#
#   bench/scaling.sh [OUT_DIR] [SIZES...]      # default: /tmp/scaling 1000 10000 100000
#
# Environment:
#   PG_BIN       PostgreSQL server binaries (default /usr/lib/postgresql/15/bin)
#   SETTINGS     "production" (default: fsync, synchronous_commit and
#                full_page_writes on) or "test" (all three off)
#   CLIENTS      virtual users of the load (default 16)
#   DURATION     length of each load run (default 20s)
#   POOL         connections of the server's pool (default: the server's)
#
# It starts its own PostgreSQL cluster in a temporary directory on port
# 55439 (as the current user; as root, as user postgres) and removes it
# at the end. Nothing here needs Docker.
set -euo pipefail

out=${1:-/tmp/scaling}
shift || true
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000 10000 100000)
pg_bin=${PG_BIN:-/usr/lib/postgresql/15/bin}
settings=${SETTINGS:-production}
clients=${CLIENTS:-16}
duration=${DURATION:-20s}
port=55439
pw=scaling-demo-password
root=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$out"

work=$(mktemp -d /tmp/historia-scaling.XXXXXX)
chmod 755 "$work"
as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/sh -c "$*"; else sh -c "$*"; fi; }
[ "$(id -u)" = 0 ] && chown postgres "$work"
cleanup() {
	[ -n "${serve_pid:-}" ] && kill "$serve_pid" 2>/dev/null || true
	as_pg "$pg_bin/pg_ctl -D $work/data -m fast stop" >/dev/null 2>&1 || true
	rm -rf "$work"
}
trap cleanup EXIT

as_pg "$pg_bin/initdb -D $work/data -U postgres -A trust" >/dev/null
fsync=on
[ "$settings" = test ] && fsync=off
cat >>"$work/data/postgresql.conf" <<EOF
port = $port
listen_addresses = '127.0.0.1'
unix_socket_directories = '$work'
max_connections = 200
shared_buffers = 1GB
fsync = $fsync
synchronous_commit = $fsync
full_page_writes = $fsync
EOF
as_pg "$pg_bin/pg_ctl -D $work/data -l $work/pg.log -w start" >/dev/null

(cd "$root/refserver" && go build -o "$work/historia" ./cmd/historia)
hist="$work/historia"

for n in "${sizes[@]}"; do
	db="scale_$n"
	psql -h 127.0.0.1 -p $port -U postgres -qc "CREATE DATABASE $db"
	url="postgres://postgres@127.0.0.1:$port/$db?sslmode=disable"
	[ -n "${POOL:-}" ] && url="$url&pool_max_conns=$POOL"
	"$hist" migrate --database-url "$url" >/dev/null
	# Seed: historia demo seeds, then serves; stop it once it serves.
	start=$(date +%s.%N)
	"$hist" demo --database-url "$url" --patients "$n" --demo-password "$pw" --addr 127.0.0.1:0 >"$work/demo.log" 2>&1 &
	demo_pid=$!
	until grep -q "http://127.0.0.1" "$work/demo.log"; do
		kill -0 "$demo_pid" 2>/dev/null || { cat "$work/demo.log"; exit 1; }
		sleep 0.5
	done
	end=$(date +%s.%N)
	kill "$demo_pid"; wait "$demo_pid" 2>/dev/null || true
	seed=$(echo "$end - $start" | bc)
	resources=$(psql -h 127.0.0.1 -p $port -U postgres -d "$db" -Atc "SELECT (SELECT count(*) FROM patients) + (SELECT count(*) FROM encounters)
	  + (SELECT count(*) FROM appointments) + (SELECT count(*) FROM observations) + (SELECT count(*) FROM clinical_notes)
	  + (SELECT count(*) FROM conditions) + (SELECT count(*) FROM allergies) + (SELECT count(*) FROM medication_requests)")
	size=$(psql -h 127.0.0.1 -p $port -U postgres -d "$db" -Atc "SELECT pg_size_pretty(pg_database_size('$db'))")
	echo "N=$n: seeded in ${seed}s, $resources resources, database $size" | tee "$out/$n.md"
	# As after any bulk load: statistics and the visibility map up to
	# date, the load's dirty pages written, before the measurement.
	psql -h 127.0.0.1 -p $port -U postgres -d "$db" -qc "VACUUM (ANALYZE)" -c "CHECKPOINT"

	"$hist" serve --database-url "$url" --addr 127.0.0.1:18080 --metrics-addr 127.0.0.1:19090 >"$work/serve.log" 2>&1 &
	serve_pid=$!
	until curl -fs http://127.0.0.1:18080/readyz >/dev/null 2>&1 || grep -q listening "$work/serve.log"; do sleep 0.2; done
	sleep 1
	"$hist" load --url http://127.0.0.1:18080 --demo-password "$pw" -c "$clients" -d "$duration" \
		--metrics-url http://127.0.0.1:19090/metrics --markdown "$work/load.md" >"$work/load.out" 2>"$work/load.err"
	cat "$work/load.md" >>"$out/$n.md"
	kill "$serve_pid"; wait "$serve_pid" 2>/dev/null || true
	serve_pid=
	echo >>"$out/$n.md"
	# Each size on a fresh database: the disk holds one at a time (about
	# 6 GB at 100k, 60 GB at 1M).
	psql -h 127.0.0.1 -p $port -U postgres -qc "DROP DATABASE $db"
done
echo "results in $out"
