#!/usr/bin/env bash
# Makes sure run() tasks can be sandboxed here: installs Debian's bubblewrap when it is
# missing and this user may (root with apt-get), and flawfinder for the flawfinder() scan
# preset. Never fails: without bubblewrap the server starts, says so, and refuses pipeline
# code until it is installed (or the sandbox is off).
set -uo pipefail
can_install() { [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; }
apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then apt-get update -qq >/dev/null 2>&1 || true; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null 2>&1 || true
}
if ! command -v bwrap >/dev/null && can_install; then
  echo "provision: installing bubblewrap (the run() task sandbox)"
  apt_install bubblewrap
fi
command -v bwrap >/dev/null || echo "provision: bubblewrap is missing; install it (apt-get install bubblewrap) or run() tasks are refused"
# The flawfinder() scan preset (C/C++ security scan with native SARIF) runs Debian's flawfinder.
if ! command -v flawfinder >/dev/null && can_install; then
  echo "provision: installing flawfinder (the flawfinder() scan preset)"
  apt_install flawfinder
fi
command -v flawfinder >/dev/null || echo "provision: flawfinder is missing; flawfinder() scans fail until it is installed (apt-get install flawfinder)"
# The example CI pipeline (pipelines/examples/ci.ts) pushes its image to a registry on
# 127.0.0.1:5000: where Docker runs, Debian's docker-registry is started there unless
# something answers already (its images under the data dir; stop it with the pid it prints).
if [ -S /var/run/docker.sock ]; then
  if ! command -v docker-registry >/dev/null && can_install; then
    echo "provision: installing docker-registry (the example CI pipeline's local registry)"
    apt_install docker-registry
  fi
  if command -v docker-registry >/dev/null && ! (exec 3<>/dev/tcp/127.0.0.1/5000) 2>/dev/null; then
    registry_dir="${GANTRY_DATA_DIR:-./data}/registry"
    mkdir -p "$registry_dir" && chmod 700 "$registry_dir"
    registry_dir="$(cd "$registry_dir" && pwd)"
    printf 'version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: %s/storage\nhttp:\n  addr: 127.0.0.1:5000\n' "$registry_dir" > "$registry_dir/config.yml"
    setsid nohup docker-registry serve "$registry_dir/config.yml" > "$registry_dir/registry.log" 2>&1 < /dev/null &
    echo $! > "$registry_dir/pid"
    echo "provision: a local registry for the example CI runs on 127.0.0.1:5000 (pid $(cat "$registry_dir/pid"); kill it to stop)"
  fi
fi
exit 0
