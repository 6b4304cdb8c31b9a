# Sourced by provision-test-env.sh and make-test-image.sh: finds a statically linked busybox,
# the only kind that runs in the test image, which has no libc.

# Whether a file is a statically linked executable (plain or static-pie), by file(1).
is_static() { file -L "$1" 2>/dev/null | grep -Eq 'statically linked|static-pie linked'; }

# Prints the path of a statically linked busybox (on PATH, else /bin/busybox); fails if none.
static_busybox() {
  local candidate
  for candidate in "$(command -v busybox || true)" /bin/busybox; do
    if [ -n "$candidate" ] && [ -x "$candidate" ] && is_static "$candidate"; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}
