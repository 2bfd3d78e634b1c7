#!/bin/sh
# The official nginx image's /docker-entrypoint.sh: when the command is nginx, source every
# executable /docker-entrypoint.d/*.envsh and run every executable *.sh, in name order.
set -eu
if [ "${1:-}" = nginx ] || [ "${1:-}" = nginx-debug ]; then
  for f in $(find /docker-entrypoint.d/ -follow -type f -print | sort -V); do
    case "$f" in
    *.envsh)
      if [ -x "$f" ]; then
        echo "$0: sourcing $f"
        . "$f"
      else
        echo "$0: ignoring $f, not executable"
      fi
      ;;
    *.sh)
      if [ -x "$f" ]; then
        echo "$0: launching $f"
        "$f"
      else
        echo "$0: ignoring $f, not executable"
      fi
      ;;
    esac
  done
fi
exec "$@"
