#!/usr/bin/env bash
# Installs Debian's PostgreSQL server (the `postgresql` package) with apt, for the PostgreSQL store's tests and
# benchmarks. Does nothing when initdb is already there. Quiet unless something fails; needs root (or sudo).
#
#   scripts/postgres/install.sh      -> prints the directory of initdb and postgres on stdout
#
# The package's post-install step creates and tries to start a system cluster; where no init system runs,
# nothing is left running. Keel's tests never use it: they start their own with scripts/postgres/start.sh.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/../lib/system.sh"

find_bin() {
    local dir
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        if [ -x "$dir/initdb" ] && [ -x "$dir/postgres" ]; then echo "$dir"; return 0; fi
    done
    if command -v initdb >/dev/null 2>&1 && command -v postgres >/dev/null 2>&1; then
        dirname "$(command -v initdb)"
        return 0
    fi
    return 1
}

if find_bin; then
    exit 0
fi

apt_install postgres/install.sh postgresql >&2 || exit 1

find_bin || {
    echo "postgres/install.sh: the package installed but initdb was not found" >&2
    exit 1
}
