#!/usr/bin/env bash
# Installs Debian's Chromium and its WebDriver (chromium, chromium-driver) with apt, for the web console's
# browser test. Does nothing when both are there. Quiet unless something fails; needs root (or sudo).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/lib/system.sh"

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    exit 0
fi
apt_install install-browser chromium chromium-driver >&2 || exit 1
