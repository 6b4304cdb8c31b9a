#!/usr/bin/env bash
# Makes sure run() tasks can be sandboxed here: installs Debian's bubblewrap when it is
# missing and this user may (root with apt-get). Never fails: without bubblewrap the server
# starts, says so, and refuses pipeline code until it is installed (or the sandbox is off).
set -uo pipefail
command -v bwrap >/dev/null && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "provision: installing bubblewrap (the run() task sandbox)"
  apt-get update -qq >/dev/null 2>&1 || true
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null 2>&1 || true
fi
command -v bwrap >/dev/null || echo "provision: bubblewrap is missing; install it (apt-get install bubblewrap) or run() tasks are refused"
exit 0
