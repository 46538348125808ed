#!/bin/bash
# generate.sh makes the secret files that compose.yaml and
# compose.citus.yaml read, in this directory, unless they exist:
#
#   postgres_password   a random password of the database role "historia"
#   database_url        the URL the server connects with (host: postgres,
#                       or coordinator with --citus)
#   signing_key.pem     an Ed25519 private key (PKCS#8 PEM) signing tokens
#
#   refserver/deploy/secrets/generate.sh [--citus]
#
# The files are mode 0644 (the server runs as uid 65532 and reads them
# through a bind mount) inside this directory, made mode 0700. They are
# never committed (.gitignore).
set -euo pipefail
cd "$(dirname "$0")"
host=postgres
if [ "${1:-}" = "--citus" ]; then host=coordinator; fi
umask 022
chmod 0700 .
if [ ! -s postgres_password ]; then
	head -c 24 /dev/urandom | base64 | tr -d '/+=\n' >postgres_password
	echo "made postgres_password"
fi
if [ ! -s database_url ] || ! grep -q "@$host:" database_url; then
	printf 'postgres://historia:%s@%s:5432/historia\n' "$(cat postgres_password)" "$host" >database_url
	echo "made database_url (host $host)"
fi
if [ ! -s signing_key.pem ]; then
	openssl genpkey -algorithm ed25519 -out signing_key.pem
	echo "made signing_key.pem"
fi
chmod 0644 postgres_password database_url signing_key.pem
