#!/bin/bash
# build-image.sh builds the historia container image without any registry:
# a static binary on an empty base. It compiles refserver/cmd/historia with
# the local Go toolchain (CGO_ENABLED=0), lays a minimal root filesystem
#
#   /historia                          the binary (the entrypoint)
#   /etc/passwd, /etc/group            root and historia (uid/gid 65532)
#   /etc/ssl/certs/ca-certificates.crt the host's CA bundle
#   /tmp                               mode 1777
#   /home/historia                     owned by historia
#
# and `docker import`s it with the configuration refserver/deploy/Dockerfile
# gives (USER, ENTRYPOINT, CMD, EXPOSE, ENV, HEALTHCHECK). On a machine
# with a registry the Dockerfile does the same job.
#
#   refserver/deploy/build-image.sh [--force] [IMAGE]   (default historia/historia:dev)
#
# The image records a fingerprint of the sources it was built from (label
# org.historiaehr.source). An image already present with the same
# fingerprint is reused; --force rebuilds anyway.
set -euo pipefail

force=0
if [ "${1:-}" = "--force" ]; then force=1; shift; fi
image="${1:-historia/historia:dev}"
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
ca="${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}"
label=org.historiaehr.source

command -v docker >/dev/null || { echo "build-image: docker is not installed" >&2; exit 1; }
command -v go >/dev/null || { echo "build-image: go is not installed" >&2; exit 1; }
[ -f "$ca" ] || { echo "build-image: no CA bundle at $ca (apt-get install ca-certificates, or set CA_BUNDLE)" >&2; exit 1; }

# The fingerprint covers every file of the repository that the build can
# read (tracked or not, minus ignored ones and the deploy files), plus the
# Go version and this script.
fingerprint() {
	cd "$repo"
	{
		go version
		sha256sum "$here/build-image.sh" | cut -d' ' -f1
		if git rev-parse --git-dir >/dev/null 2>&1; then
			git ls-files -z --cached --others --exclude-standard -- . ':!refserver/deploy' ':!docs' ':!bench' \
				| xargs -0 -r sha256sum 2>/dev/null || true
		else
			find . -path ./refserver/deploy -prune -o -path ./.git -prune -o -path ./docs -prune -o -path ./bench -prune \
				-o -type f -print0 | sort -z | xargs -0 -r sha256sum
		fi
	} | sha256sum | cut -c1-32
}
src="$(fingerprint)"

if [ "$force" = 0 ]; then
	have="$(docker image inspect --format "{{ index .Config.Labels \"$label\" }}" "$image" 2>/dev/null || true)"
	if [ "$have" = "$src" ]; then
		echo "build-image: $image already present (sources $src)"
		exit 0
	fi
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/historia-image.XXXXXX")"
trap 'rm -rf "$work"' EXIT
root="$work/rootfs"
mkdir -p "$root/etc/ssl/certs" "$root/tmp" "$root/home/historia"

echo "build-image: go build (CGO_ENABLED=0) refserver/cmd/historia"
(cd "$repo/refserver" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$root/historia" ./cmd/historia)
"$root/historia" help >/dev/null

cat >"$root/etc/passwd" <<'EOT'
root:x:0:0:root:/root:/sbin/nologin
historia:x:65532:65532:historia:/home/historia:/sbin/nologin
EOT
cat >"$root/etc/group" <<'EOT'
root:x:0:
historia:x:65532:
EOT
cp "$ca" "$root/etc/ssl/certs/ca-certificates.crt"
chmod 0755 "$root" "$root/etc" "$root/etc/ssl" "$root/etc/ssl/certs" "$root/historia"
chmod 0644 "$root/etc/passwd" "$root/etc/group" "$root/etc/ssl/certs/ca-certificates.crt"
chmod 1777 "$root/tmp"
chmod 0700 "$root/home/historia"

echo "build-image: docker import as $image"
# Every file belongs to root but /home/historia, which belongs to historia.
tar -C "$root" --numeric-owner --owner=0 --group=0 --exclude=./home/historia -c . >"$work/rootfs.tar"
tar -C "$root" --numeric-owner --owner=65532 --group=65532 --no-recursion -r -f "$work/rootfs.tar" ./home/historia
docker import \
	--change 'USER 65532:65532' \
	--change 'WORKDIR /' \
	--change 'ENV HISTORIA_ADDR=:8080' \
	--change 'EXPOSE 8080' \
	--change 'HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 CMD ["/historia", "healthcheck", "--url", "http://127.0.0.1:8080/healthz"]' \
	--change "LABEL $label=$src" \
	--change 'LABEL org.opencontainers.image.title=historia' \
	--change 'LABEL org.opencontainers.image.licenses=Apache-2.0' \
	--change 'ENTRYPOINT ["/historia"]' \
	--change 'CMD ["serve"]' \
	"$work/rootfs.tar" "$image" >/dev/null
echo "build-image: built $image (sources $src)"
