#!/usr/bin/env bash
# Makes this machine ready for the test suite, idempotently: Debian's Chromium for the
# browser tests, a running Docker engine and the local/busybox:latest test image (built
# from Debian's busybox-static, never pulled).
# Installs with apt-get when it can (root on Debian); otherwise says what is missing and
# leaves the container tests to report the engine as unavailable.
set -uo pipefail
cd "$(dirname "$0")/.."

say() { echo "provision: $*"; }
can_install() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; }
apt_updated=0
apt_install() {
  can_install || { say "cannot install $* (needs root and apt-get)"; return 1; }
  if [ "$apt_updated" = 0 ]; then apt-get update -qq >/dev/null 2>&1 || true; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1
}

# Browser tests drive Debian's Chromium through playwright-core; a browser is never downloaded.
if ! [ -x /usr/bin/chromium ]; then
  say "installing chromium"
  apt_install chromium fonts-dejavu-core fonts-liberation || say "no Chromium: browser tests will fail"
fi
[ -x /usr/bin/chromium ] && say "$(/usr/bin/chromium --version 2>/dev/null | head -1)"

# run() tasks and pipeline imports run in Debian's bubblewrap sandbox.
if ! command -v bwrap >/dev/null; then
  say "installing bubblewrap"
  apt_install bubblewrap || say "no bubblewrap: run() tasks will be refused"
fi
command -v bwrap >/dev/null && say "$(bwrap --version)"

engine_up() { docker version >/dev/null 2>&1; }

if ! engine_up; then
  if ! command -v dockerd >/dev/null; then
    say "installing docker.io"
    apt_install docker.io || { say "no Docker engine: container tests will fail"; exit 0; }
  fi
  if ! engine_up && command -v dockerd >/dev/null && [ "$(id -u)" = 0 ]; then
    say "starting dockerd"
    mkdir -p /tmp/gantry-ci
    nohup dockerd >/tmp/gantry-ci/dockerd.log 2>&1 &
    for _ in $(seq 1 60); do engine_up && break; sleep 0.5; done
  fi
  engine_up || { say "dockerd did not come up (see /tmp/gantry-ci/dockerd.log)"; exit 0; }
fi
say "docker engine $(docker version --format '{{.Server.Version}}' 2>/dev/null)"

if ! docker image inspect local/busybox:latest >/dev/null 2>&1; then
  source scripts/static-busybox.sh
  static_busybox >/dev/null || apt_install busybox-static file || true
  if ! ./scripts/make-test-image.sh local/busybox:latest; then
    say "could not build the test image local/busybox:latest: container tests will fail"
    exit 0
  fi
fi
say "test image local/busybox:latest ready"
