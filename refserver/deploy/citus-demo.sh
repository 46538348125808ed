#!/bin/bash
# citus-demo.sh brings up Historia on a local three-node Citus cluster with
# compose.citus.yaml (a coordinator, two workers, the node registration,
# historia migrate, historia citus distribute, the server), then seeds a
# demo hospital with one login per role and prints the URL and the logins.
# For trying Historia on Citus, not for patients' data.
#
#   refserver/deploy/citus-demo.sh [up]   start (or start again) and print the logins
#   refserver/deploy/citus-demo.sh status the containers and how each table is distributed
#   refserver/deploy/citus-demo.sh down   stop and delete everything (containers, volumes)
#
# Environment (all optional):
#   HISTORIA_CITUS_IMAGE    the Citus image of the three nodes. Default: the
#                           local historia/citus:13-pg15 when present
#                           (internal/pgimage/build-citus.sh builds it with
#                           no registry), else the official citusdata/citus:13.0
#                           (pulled)
#   HISTORIA_IMAGE          the historia image; default historia/historia:dev,
#                           built (or reused) by build-image.sh
#   HISTORIA_PUBLISH        where the server is published; default 127.0.0.1:8080
#                           ("127.0.0.1:" takes a free port)
#   HISTORIA_DEMO_PASSWORD  the password of every demo user; default random,
#                           kept in secrets/demo_password
#   COMPOSE_PROJECT_NAME    default historia-citus
#
# It runs "docker compose" (or docker-compose) from this directory and
# makes the secret files with secrets/generate.sh --citus. Every step is
# idempotent: "up" on a running demo re-runs the one-shot steps and reseeds
# nothing.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
action="${1:-up}"
project="${COMPOSE_PROJECT_NAME:-historia-citus}"
hospital="Hospital Demo Citus"
pwfile="$here/secrets/demo_password"
staff_roles=(medico admisionista secretaria admin auditor)

die() {
	echo "citus-demo: $*" >&2
	exit 1
}
say() { echo "citus-demo: $*"; }

command -v docker >/dev/null || die "docker is not installed"
if docker compose version >/dev/null 2>&1; then
	compose=(docker compose)
elif command -v docker-compose >/dev/null; then
	compose=(docker-compose)
else
	die "neither 'docker compose' nor docker-compose is installed (apt-get install docker-compose)"
fi
dc() { "${compose[@]}" -p "$project" -f "$here/compose.citus.yaml" "$@"; }
# historia runs one historia command in a one-shot container of the
# server's service (its secrets, no published port, no dependencies).
historia() { dc run --rm --no-deps -T historia "$@"; }
# quietly runs a command and shows its output only when it fails.
quietly() {
	local out
	out="$("$@" 2>&1)" || {
		echo "$out" >&2
		die "failed: $*"
	}
}

# The images, exported for compose.citus.yaml.
choose_images() {
	if [ -z "${HISTORIA_CITUS_IMAGE:-}" ]; then
		if docker image inspect historia/citus:13-pg15 >/dev/null 2>&1; then
			HISTORIA_CITUS_IMAGE=historia/citus:13-pg15
		else
			HISTORIA_CITUS_IMAGE=citusdata/citus:13.0
		fi
	fi
	if ! docker image inspect "$HISTORIA_CITUS_IMAGE" >/dev/null 2>&1; then
		say "pulling $HISTORIA_CITUS_IMAGE"
		docker pull "$HISTORIA_CITUS_IMAGE" || die "cannot pull $HISTORIA_CITUS_IMAGE; without a registry, build the local image with internal/pgimage/build-citus.sh (historia/citus:13-pg15) and run this again"
	fi
	if [ -z "${HISTORIA_IMAGE:-}" ]; then
		HISTORIA_IMAGE=historia/historia:dev
		"$here/build-image.sh" "$HISTORIA_IMAGE"
	fi
	export HISTORIA_CITUS_IMAGE HISTORIA_IMAGE
}

# wait_ready waits for the server's /readyz, asked from inside its own
# container (no curl needed on the host).
wait_ready() {
	for _ in $(seq 1 120); do
		if dc exec -T historia /historia healthcheck --url http://127.0.0.1:8080/readyz >/dev/null 2>&1; then
			return 0
		fi
		sleep 1
	done
	dc logs --tail 40 historia >&2 || true
	die "the server did not become ready within 2 minutes"
}

# base is the server's URL as seen from this machine.
base_url() {
	local addr
	addr="$(dc port historia 8080 | tail -n 1 | tr -d '\r')"
	[ -n "$addr" ] || die "the historia service publishes no port"
	addr="${addr/0.0.0.0/127.0.0.1}"
	echo "http://$addr"
}

# add_paciente registers a demo patient through the API (as the
# admisionista), who issues its portal activation code; the patient's
# "paciente" login is made by activating it (POST /api/v1/activate).
add_paciente() {
	local tenant="$1" pw="$2" base token patient code
	if ! command -v curl >/dev/null; then
		say "curl is not installed: no paciente login (register a patient as admisionista, then: historia user activation-code --patient ID, and activate it at /activar)"
		return 0
	fi
	base="$(base_url)"
	token="$(curl -fsS -H 'Accept: application/json' --data-urlencode username=admisionista \
		--data-urlencode "password=$pw" "$base/auth" | sed -n 's/.*"access_token": *"\([^"]*\)".*/\1/p')"
	[ -n "$token" ] || die "POST $base/auth as admisionista gave no token"
	patient="$(curl -fsS -H "Authorization: Bearer $token" -H 'Accept: application/json' -H 'Content-Type: application/json' \
		-d '{"document_type":"CC","document_number":"DEMO-CITUS-1","given_names":"Lucía","family_names":"Demo Citus","birth_date":"1984-03-07","sex":"female"}' \
		"$base/api/v1/patients" | grep -o '"id": *"[^"]*"' | head -n 1 | sed 's/.*"\([^"]*\)"$/\1/')"
	[ -n "$patient" ] || die "POST $base/api/v1/patients as admisionista created no patient"
	code="$(curl -fsS -H "Authorization: Bearer $token" -H 'Accept: application/json' -H 'Content-Type: application/json' -d '{}' \
		"$base/api/v1/patients/$patient/activation-code" | sed -n 's/.*"code": *"\([^"]*\)".*/\1/p')"
	[ -n "$code" ] || die "POST $base/api/v1/patients/$patient/activation-code as admisionista gave no code"
	curl -fsS -o /dev/null -H 'Accept: application/json' -H 'Content-Type: application/json' \
		-d "{\"tenant\":\"$tenant\",\"code\":\"$code\",\"username\":\"paciente\",\"password\":\"$pw\"}" "$base/api/v1/activate" ||
		die "POST $base/api/v1/activate gave no paciente login"
}

up() {
	choose_images
	say "images: $HISTORIA_IMAGE, $HISTORIA_CITUS_IMAGE"
	"$here/secrets/generate.sh" --citus
	say "starting the coordinator, two workers, the registration, migrate, distribute and the server"
	dc up -d
	wait_ready

	local tenant pw seeded=0
	tenant="$(historia tenant list | grep -F "  $hospital  " | awk '{print $1}' | head -n 1 || true)"
	if [ -n "${HISTORIA_DEMO_PASSWORD:-}" ]; then
		pw="$HISTORIA_DEMO_PASSWORD"
	elif [ -s "$pwfile" ]; then
		pw="$(tr -d '\r\n' <"$pwfile")"
	else
		pw="$(head -c 15 /dev/urandom | base64 | tr -d '/+=\n' | tr 'A-Z' 'a-z')"
	fi
	if [ -z "$tenant" ]; then
		say "seeding \"$hospital\" with one user per role"
		(umask 077 && printf '%s\n' "$pw" >"$pwfile")
		tenant="$(historia tenant add "$hospital" | tail -n 1 | tr -d '\r')"
		for role in "${staff_roles[@]}"; do
			args=(user add --tenant "$tenant" --username "$role" --role "$role")
			[ "$role" = medico ] && args+=(--name "Dra. Demo Citus")
			quietly historia "${args[@]}" <<<"$pw"
		done
		# The server signs into the only tenant of the database, which it
		# reads when it starts: start it again now that there is one.
		quietly dc restart historia
		wait_ready
		add_paciente "$tenant" "$pw"
		seeded=1
	fi

	local base
	base="$(base_url)"
	echo
	echo "Historia on Citus (a coordinator and two workers) is running at $base/login"
	[ "$seeded" = 1 ] || echo "(the demo hospital was already there: nothing reseeded)"
	echo
	printf '  %-14s %s\n' user password
	for role in "${staff_roles[@]}" paciente; do
		printf '  %-14s %s\n' "$role" "$pw"
	done
	echo
	echo "Tenant \"$hospital\": $tenant"
	echo "Citus nodes:"
	dc exec -T coordinator psql -U historia -d historia -qAtc \
		"SELECT '  ' || nodename || ':' || nodeport || CASE WHEN groupid = 0 THEN ' (coordinator)' ELSE ' (worker)' END FROM pg_dist_node ORDER BY nodeid"
	echo
	echo "How each table is distributed: $0 status"
	echo "Stop and delete everything:    $0 down"
}

status() {
	dc ps
	historia citus status
}

down() {
	dc down -v --remove-orphans
	say "removed the containers, the network and the volumes of $project"
}

case "$action" in
up) up ;;
status) status ;;
down) down ;;
*) die "usage: $0 [up|status|down]" ;;
esac
