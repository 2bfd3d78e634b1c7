#!/usr/bin/env bash
# The browser the console tests drive: Debian's Chromium (Playwright's own download is not
# used, so air-gapped CI works from the Debian mirror alone). Installs it when missing.
set -euo pipefail
CHROMIUM="${CSMS_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$CHROMIUM" ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "error: $CHROMIUM is missing; install it: sudo apt-get install -y chromium" >&2
  exit 1
fi
echo "browser: installing chromium (apt-get)"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
test -x "$CHROMIUM"
