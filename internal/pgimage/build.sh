#!/bin/bash
# build.sh builds a PostgreSQL container image from Debian's packages
# (debootstrap + docker import), with the environment interface of the
# official postgres image: POSTGRES_PASSWORD, POSTGRES_USER, POSTGRES_DB,
# port 5432. For machines that can reach Debian's mirror but no image
# registry. An image already present is reused unless --force is given or
# it was built by another version of this script or its entrypoint.
#
#   internal/pgimage/build.sh [--force] [IMAGE]     (default historia/postgres:15-bookworm)
#
# Needs root and debootstrap (apt-get install debootstrap).
set -euo pipefail

force=0
if [ "${1:-}" = "--force" ]; then force=1; shift; fi
image="${1:-historia/postgres:15-bookworm}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
suite="${DEBIAN_SUITE:-bookworm}"
here="$(cd "$(dirname "$0")" && pwd)"

# The image is labelled with a hash of this script and the entrypoint, so
# an image built by an older version of them is rebuilt.
hash="$(cat "$here/build.sh" "$here/docker-entrypoint.sh" | sha256sum | cut -c1-16)"
have="$(docker image inspect -f '{{index .Config.Labels "org.historiaehr.pgimage"}}' "$image" 2>/dev/null || true)"
if [ "$force" = 0 ] && [ "$have" = "$hash" ]; then
	echo "pgimage: $image already present"
	exit 0
fi
command -v debootstrap >/dev/null || { echo "pgimage: debootstrap is not installed (apt-get install debootstrap)" >&2; exit 1; }

work="$(mktemp -d /var/tmp/pgimage.XXXXXX)"
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"

echo "pgimage: debootstrap $suite into $root"
debootstrap --variant=minbase --include=postgresql-15,ca-certificates \
	"$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
	tail -n 30 "$work/debootstrap.log" >&2
	exit 1
}

# The Debian package creates a cluster in /var/lib/postgresql/15/main; the
# entrypoint makes its own in $PGDATA, as the official image does.
chroot "$root" pg_dropcluster --stop 15 main >/dev/null 2>&1 || true
install -m 0755 "$here/docker-entrypoint.sh" "$root/usr/local/bin/docker-entrypoint.sh"
mkdir -p "$root/docker-entrypoint-initdb.d" "$root/var/lib/postgresql/data"
chroot "$root" chown -R postgres:postgres /var/lib/postgresql
# Keep the image small: no docs, no apt lists, no man pages.
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/usr/share/doc/* \
	"$root"/usr/share/man/* "$root"/var/cache/apt/archives/*.deb

echo "pgimage: docker import as $image"
tar -C "$root" -c . | docker import \
	--change 'ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
	--change 'ENV PGDATA=/var/lib/postgresql/data' \
	--change 'ENV LANG=C.UTF-8' \
	--change 'EXPOSE 5432' \
	--change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
	--change 'CMD ["postgres"]' \
	--change "LABEL org.historiaehr.pgimage=$hash" \
	- "$image" >/dev/null
echo "pgimage: built $image"
