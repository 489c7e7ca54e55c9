#!/usr/bin/env bash
# Browser tests drive Debian's Chromium; playwright cannot download its own browser offline.
set -uo pipefail
command -v chromium >/dev/null && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null 2>&1 \
    || echo "could not install chromium: browser tests will be skipped" >&2
else
  echo "chromium not found and not root: browser tests will be skipped" >&2
fi
