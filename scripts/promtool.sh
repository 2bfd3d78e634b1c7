#!/usr/bin/env bash
# promtool, which checks the alert rules (tests/deploy/test_monitoring.py): Debian's
# prometheus package, unpacked into .tools/ (only promtool is used; no service is installed or
# started). Prints the path. Installs it when missing.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOL=.tools/promtool/usr/bin/promtool
if [ -x "$TOOL" ]; then
  echo "$PWD/$TOOL"
  exit 0
fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
echo "promtool: unpacking Debian's prometheus package into .tools/promtool" >&2
if ! (cd "$WORK" && apt-get download -qq prometheus >/dev/null 2>&1); then
  if [ "$(id -u)" -ne 0 ]; then
    echo "error: apt-get download prometheus failed; run apt-get update (as root) first" >&2
    exit 1
  fi
  apt-get update -qq
  (cd "$WORK" && apt-get download -qq prometheus >/dev/null 2>&1)
fi
mkdir -p .tools/promtool
dpkg-deb -x "$WORK"/prometheus_*.deb "$WORK/x"
mkdir -p .tools/promtool/usr/bin
cp "$WORK/x/usr/bin/promtool" .tools/promtool/usr/bin/promtool
echo "$PWD/$TOOL"
