#!/usr/bin/env bash
# Installs Debian's Chromium and its WebDriver (chromium, chromium-driver) with apt, for the web console's
# browser test. Does nothing when both are there. Quiet unless something fails; needs root (or sudo).
set -euo pipefail

if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
    exit 0
fi
command -v apt-get >/dev/null 2>&1 || {
    echo "install-browser: chromium is missing and apt-get is not available; install Chromium and chromedriver yourself" >&2
    exit 1
}
sudo=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "install-browser: installing chromium needs root (or sudo)" >&2; exit 1; }
    sudo=(sudo)
fi
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
if ! { "${sudo[@]}" apt-get update -qq \
        && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            chromium chromium-driver; } >"$log" 2>&1; then
    cat "$log" >&2
    echo "install-browser: apt-get could not install chromium chromium-driver" >&2
    exit 1
fi
