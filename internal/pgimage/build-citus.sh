#!/bin/bash
# build-citus.sh builds a Citus 13 container image from Debian's packages
# and the Citus source archive (debootstrap + compile in a chroot + docker
# import), with the environment interface of the official citusdata/citus
# image: the postgres image's variables (POSTGRES_PASSWORD, POSTGRES_USER,
# POSTGRES_DB, _FILE forms, /docker-entrypoint-initdb.d), port 5432,
# shared_preload_libraries = 'citus' and the citus extension created in
# POSTGRES_DB. For machines that can reach Debian's mirror but no image
# registry.
#
#   internal/pgimage/build-citus.sh [--force] [IMAGE]   (default historia/citus:13-pg15)
#
# The source archive is CITUS_ARCHIVE, default ../shared/citus/citus-13.2.2.tar.gz
# from the repository root. Outside this environment, download the same
# release (https://github.com/citusdata/citus/archive/refs/tags/v13.2.2.tar.gz)
# and point CITUS_ARCHIVE at it.
#
# The image is labelled with a hash of this script, the entrypoint and the
# archive, so an image built from other inputs is rebuilt and an unchanged
# one is reused (seconds). A build takes about 6 minutes on 2 cores.
#
# Needs root and debootstrap (apt-get install debootstrap).
set -euo pipefail

force=0
if [ "${1:-}" = "--force" ]; then force=1; shift; fi
image="${1:-historia/citus:13-pg15}"
here="$(cd "$(dirname "$0")" && pwd)"
top="$(cd "$here/../.." && pwd)"
archive="${CITUS_ARCHIVE:-$top/../shared/citus/citus-13.2.2.tar.gz}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
suite="${DEBIAN_SUITE:-bookworm}"

[ -f "$archive" ] || {
	echo "citusimage: no Citus source archive at $archive; set CITUS_ARCHIVE to a Citus 13.x source tarball" >&2
	exit 1
}

hash="$(cat "$here/build-citus.sh" "$here/docker-entrypoint.sh" "$archive" | sha256sum | cut -c1-16)"
have="$(docker image inspect -f '{{index .Config.Labels "org.historiaehr.citusimage"}}' "$image" 2>/dev/null || true)"
if [ "$force" = 0 ] && [ "$have" = "$hash" ]; then
	echo "citusimage: $image already present"
	exit 0
fi
command -v debootstrap >/dev/null || { echo "citusimage: debootstrap is not installed (apt-get install debootstrap)" >&2; exit 1; }

work="$(mktemp -d /var/tmp/citusimage.XXXXXX)"
cleanup() {
	umount "$work/rootfs/proc" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
root="$work/rootfs"

# Build dependencies, removed again after the build. libcurl is left out:
# Citus uses it only to send anonymous usage statistics (--without-libcurl).
builddeps="postgresql-server-dev-15,build-essential,liblz4-dev,libzstd-dev,libssl-dev,libkrb5-dev,libselinux1-dev,libxslt1-dev,libpam0g-dev,libreadline-dev,zlib1g-dev,libicu-dev,pkg-config"

echo "citusimage: debootstrap $suite into $root"
debootstrap --variant=minbase --include="postgresql-15,ca-certificates,$builddeps" \
	"$suite" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
	tail -n 30 "$work/debootstrap.log" >&2
	exit 1
}

echo "citusimage: building $(basename "$archive")"
mkdir -p "$root/usr/src/citus"
tar -xzf "$archive" -C "$root/usr/src/citus" --strip-components=1
# Debian's PostgreSQL 15 headers (15.18 and later) declare
# have_createdb_privilege extern, which Citus 13.2.2's compat header also
# defines as a static inline for versions before 16. Renaming the compat
# function resolves the clash; it is harmless with older headers.
compat="$root/usr/src/citus/src/include/pg_version_compat.h"
if grep -q 'have_createdb_privilege(void)' "$compat"; then
	line="$(grep -n '^have_createdb_privilege(void)' "$compat" | head -n 1 | cut -d: -f1)"
	sed -i "$((line - 1))i #define have_createdb_privilege citus_compat_have_createdb_privilege" "$compat"
	grep -q '#define have_createdb_privilege citus_compat_have_createdb_privilege' "$compat" || {
		echo "citusimage: could not apply the have_createdb_privilege rename to $compat" >&2
		exit 1
	}
fi
mount -t proc proc "$root/proc"
chroot "$root" /bin/sh -c 'cd /usr/src/citus &&
	./configure PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config --without-libcurl >/tmp/configure.log 2>&1 &&
	make -j"$(nproc)" >/tmp/make.log 2>&1 &&
	make install >/tmp/install.log 2>&1' || {
	for f in configure make install; do
		[ -f "$root/tmp/$f.log" ] && tail -n 40 "$root/tmp/$f.log" >&2
	done
	exit 1
}
umount "$root/proc"
chroot "$root" /bin/sh -c 'ls /usr/lib/postgresql/15/lib/citus.so >/dev/null'

# Remove the toolchain and headers; keep the runtime libraries PostgreSQL
# and Citus link against.
chroot "$root" apt-mark manual postgresql-15 ca-certificates >/dev/null
chroot "$root" env DEBIAN_FRONTEND=noninteractive apt-get purge -y -q --auto-remove \
	$(echo "$builddeps" | tr ',' ' ') gcc-12 cpp-12 >"$work/purge.log" 2>&1 || tail -n 20 "$work/purge.log" >&2
chroot "$root" ldd /usr/lib/postgresql/15/lib/citus.so | grep -q 'not found' && {
	echo "citusimage: citus.so lacks a library after the clean-up:" >&2
	chroot "$root" ldd /usr/lib/postgresql/15/lib/citus.so >&2
	exit 1
}

# Every new cluster preloads Citus and can run shard moves in the
# logical-replication mode ('auto' / 'force_logical'), as the official
# image's configuration does; the extension is created in POSTGRES_DB.
sample="$root/usr/share/postgresql/15/postgresql.conf.sample"
cat >>"$sample" <<'CONF'

# historia citus image
shared_preload_libraries = 'citus'
wal_level = logical
max_replication_slots = 20
max_wal_senders = 20
CONF
chroot "$root" pg_dropcluster --stop 15 main >/dev/null 2>&1 || true
install -m 0755 "$here/docker-entrypoint.sh" "$root/usr/local/bin/docker-entrypoint.sh"
mkdir -p "$root/docker-entrypoint-initdb.d" "$root/var/lib/postgresql/data"
echo 'CREATE EXTENSION IF NOT EXISTS citus;' >"$root/docker-entrypoint-initdb.d/001-create-citus-extension.sql"
chroot "$root" chown -R postgres:postgres /var/lib/postgresql
rm -rf "$root"/usr/src/citus "$root"/tmp/* "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin \
	"$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/var/cache/apt/archives/*.deb

echo "citusimage: docker import as $image"
tar -C "$root" -c . | docker import \
	--change 'ENV PATH=/usr/lib/postgresql/15/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
	--change 'ENV PGDATA=/var/lib/postgresql/data' \
	--change 'ENV LANG=C.UTF-8' \
	--change 'EXPOSE 5432' \
	--change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
	--change 'CMD ["postgres"]' \
	--change "LABEL org.historiaehr.citusimage=$hash" \
	- "$image" >/dev/null
echo "citusimage: built $image"
