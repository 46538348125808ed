#!/bin/bash
# docker-entrypoint.sh: the environment interface of the official postgres
# image (POSTGRES_PASSWORD, POSTGRES_USER, POSTGRES_DB, PGDATA,
# POSTGRES_INITDB_ARGS, /docker-entrypoint-initdb.d), for an image built
# from Debian's packages by build.sh.
set -euo pipefail

PGBIN=/usr/lib/postgresql/15/bin
export PGDATA="${PGDATA:-/var/lib/postgresql/data}"
# VAR_FILE reads VAR from a file (Docker and Kubernetes secrets), as the
# official image does.
for var in POSTGRES_PASSWORD POSTGRES_USER POSTGRES_DB POSTGRES_INITDB_ARGS; do
	file_var="${var}_FILE"
	if [ -n "${!file_var:-}" ]; then
		if [ -n "${!var:-}" ]; then
			echo "error: both $var and $file_var are set (but are exclusive)" >&2
			exit 1
		fi
		export "$var"="$(<"${!file_var}")"
	fi
done
POSTGRES_USER="${POSTGRES_USER:-postgres}"
POSTGRES_DB="${POSTGRES_DB:-$POSTGRES_USER}"

if [ "${1:-postgres}" != "postgres" ]; then
	exec "$@"
fi
shift || true

as_postgres() {
	if [ "$(id -u)" = 0 ]; then
		setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"
	else
		"$@"
	fi
}

if [ "$(id -u)" = 0 ]; then
	# setpriv keeps the environment: without this, the server (and libpq
	# inside it, as when Citus connects to its workers) would look for
	# ~/.postgresql in root's home and fail on its permissions.
	export HOME=/var/lib/postgresql
	mkdir -p "$PGDATA" /var/run/postgresql
	chown -R postgres:postgres "$PGDATA" /var/run/postgresql
	chmod 0700 "$PGDATA"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
	if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "${POSTGRES_HOST_AUTH_METHOD:-}" != "trust" ]; then
		echo "error: database is uninitialized and POSTGRES_PASSWORD is not set" >&2
		echo "       (set POSTGRES_HOST_AUTH_METHOD=trust to allow connections without one)" >&2
		exit 1
	fi
	pwfile=$(mktemp)
	printf '%s\n' "${POSTGRES_PASSWORD:-}" >"$pwfile"
	chown postgres "$pwfile"
	# shellcheck disable=SC2086
	as_postgres "$PGBIN/initdb" --username="$POSTGRES_USER" --pwfile="$pwfile" \
		--auth-local=trust --auth-host="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}" \
		--encoding=UTF8 --locale=C.UTF-8 ${POSTGRES_INITDB_ARGS:-} >/dev/null
	rm -f "$pwfile"
	echo "host all all all ${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}" >>"$PGDATA/pg_hba.conf"
	echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"

	# A temporary server on the unix socket only, as the official image does,
	# to create the database and run the init scripts.
	as_postgres "$PGBIN/pg_ctl" -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
	if [ "$POSTGRES_DB" != "postgres" ]; then
		as_postgres psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
			-c "CREATE DATABASE \"$POSTGRES_DB\"" >/dev/null
	fi
	for f in /docker-entrypoint-initdb.d/*; do
		case "$f" in
		*.sh) echo "running $f"; . "$f" ;;
		*.sql) echo "running $f"; as_postgres psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" -f "$f" ;;
		*) ;;
		esac
	done
	as_postgres "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
	echo "PostgreSQL init process complete; ready for start up."
fi

exec setpriv --reuid=postgres --regid=postgres --init-groups -- "$PGBIN/postgres" "$@"
