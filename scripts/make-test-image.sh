#!/usr/bin/env bash
# Builds local/busybox:latest from Debian's busybox-static and imports it into the local
# Docker engine. No registry is involved: tests never pull.
set -euo pipefail
IMAGE="${1:-local/busybox:latest}"
source "$(dirname "$0")/static-busybox.sh"
if ! BUSYBOX="$(static_busybox)"; then
  echo "make-test-image: no statically linked busybox on PATH or at /bin/busybox (checked with file(1)); apt-get install -y busybox-static file" >&2
  exit 1
fi
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/work"
cp "$BUSYBOX" "$root/bin/busybox"
for applet in sh echo sleep cat env ls true false printf head tail wc mkdir rm cp mv id grep sed yes dd seq date touch kill; do
  ln -s busybox "$root/bin/$applet"
done
echo "root:x:0:0:root:/root:/bin/sh" > "$root/etc/passwd"
echo "nobody:x:65534:65534:nobody:/:/bin/sh" >> "$root/etc/passwd"
chmod 1777 "$root/tmp"
tar -C "$root" -c . | docker import --change 'ENV PATH=/bin' --change 'CMD ["sh"]' - "$IMAGE" >/dev/null
echo "imported $IMAGE"
