#!/usr/bin/env bash
# Makes sure run() tasks can be sandboxed here: installs Debian's bubblewrap when it is
# missing and this user may (root with apt-get), and flawfinder for the flawfinder() scan
# preset. Never fails: without bubblewrap the server starts, says so, and refuses pipeline
# code until it is installed (or the sandbox is off).
set -uo pipefail
command -v bwrap >/dev/null && command -v flawfinder >/dev/null && exit 0
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
exit 0
