#!/usr/bin/env bash
# Makes this machine ready for the test suite, idempotently: Debian's Chromium for the
# browser tests, Debian's docker-registry and htpasswd for the image push tests, a running
# Docker engine and the local/busybox:latest test image (built from Debian's busybox-static,
# never pulled).
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

# Git sources (and their tests' http-backend and daemon) need git itself.
if ! command -v git >/dev/null || ! [ -x /usr/lib/git-core/git-http-backend ]; then
  say "installing git"
  apt_install git || say "no git: git source and checkout tests will fail"
fi
command -v git >/dev/null && say "$(git --version)"

# The flawfinder() scan preset runs Debian's flawfinder (C/C++, native SARIF) in the sandbox.
if ! command -v flawfinder >/dev/null; then
  say "installing flawfinder"
  apt_install flawfinder || say "no flawfinder: its scan tests will fail"
fi
command -v flawfinder >/dev/null && say "flawfinder $(flawfinder --version 2>/dev/null)"

# Image push tests start Debian's registry on a free loopback port themselves (never as a
# service), with htpasswd from apache2-utils for the auth case.
if ! command -v docker-registry >/dev/null || ! command -v htpasswd >/dev/null; then
  say "installing docker-registry apache2-utils"
  apt_install docker-registry apache2-utils || say "no docker-registry or htpasswd: image push tests will fail"
fi
command -v docker-registry >/dev/null && say "$(docker-registry --version 2>/dev/null | head -1)"

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
