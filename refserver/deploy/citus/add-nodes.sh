#!/bin/bash
# add-nodes.sh registers the workers of a Citus cluster with its
# coordinator. Idempotent: run it at every start, or after adding a worker.
#
# Environment: the libpq variables PGHOST, PGPORT, PGUSER, PGDATABASE (the
# coordinator), PASSWORD_FILE (the password of PGUSER, the same on every
# node), CITUS_COORDINATOR (the coordinator's host name as the workers
# reach it) and CITUS_WORKERS (host[:port] of each worker, space-separated).
#
# The password goes into pg_dist_authinfo (node 0: every node), which Citus
# uses for its connections between nodes, so the nodes keep password
# authentication (no "trust") among themselves.
set -euo pipefail
PGPASSWORD="$(tr -d '\r\n' <"$PASSWORD_FILE")"
export PGPASSWORD
: "${CITUS_COORDINATOR:?}" "${CITUS_WORKERS:?}"

for _ in $(seq 1 60); do
	psql -qAtc 'SELECT 1' >/dev/null 2>&1 && break
	sleep 2
done

psql -v ON_ERROR_STOP=1 -qAt -v pw="password=$PGPASSWORD" -v coordinator="$CITUS_COORDINATOR" <<'SQL'
CREATE EXTENSION IF NOT EXISTS citus;
INSERT INTO pg_dist_authinfo (nodeid, rolename, authinfo)
  VALUES (0, current_user, :'pw')
  ON CONFLICT (nodeid, rolename) DO UPDATE SET authinfo = EXCLUDED.authinfo;
SELECT citus_set_coordinator_host(:'coordinator', 5432);
SQL

for w in $CITUS_WORKERS; do
	host="${w%%:*}"
	port=5432
	[ "$host" != "$w" ] && port="${w##*:}"
	for _ in $(seq 1 60); do
		pg_isready -q -h "$host" -p "$port" && break
		sleep 2
	done
	psql -v ON_ERROR_STOP=1 -qAt -v host="$host" -v port="$port" <<'SQL'
SELECT citus_add_node(:'host', :'port'::int)
WHERE NOT EXISTS (SELECT 1 FROM pg_dist_node WHERE nodename = :'host' AND nodeport = :'port'::int);
SQL
	echo "citus: worker $host:$port registered"
done
psql -qAtc "SELECT nodename || ':' || nodeport || ' ' || noderole FROM pg_dist_node ORDER BY nodeid"
