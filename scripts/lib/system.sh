# Shell functions the install and start scripts share. Source it: `. "$(dirname "$0")/../lib/system.sh"`.

# apt_install WHO PACKAGE...: installs Debian packages quietly with apt (as root, or through sudo), printing
# apt's output and a line naming WHO and the packages only when it fails; returns 1 then.
apt_install() {
    local who=$1
    shift
    command -v apt-get >/dev/null 2>&1 || {
        echo "$who: $* missing and apt-get is not available; install them yourself" >&2
        return 1
    }
    local sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null 2>&1 || {
            echo "$who: installing $* needs root (or sudo)" >&2
            return 1
        }
        sudo=(sudo)
    fi
    local log status=0
    log="$(mktemp)"
    { "${sudo[@]}" apt-get update -qq \
        && "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"; } \
        >"$log" 2>&1 || status=$?
    if [ "$status" -ne 0 ]; then
        cat "$log" >&2
        echo "$who: apt-get could not install $*" >&2
    fi
    rm -f "$log"
    return "$status"
}

# close_inherited_fds: closes every descriptor but 0, 1, 2 (and 255, bash's own copy of the script). A server
# and watcher that outlive the calling script must not keep open a descriptor it inherited: a caller's pipe
# would then never reach its end.
close_inherited_fds() {
    local fd_path fd
    for fd_path in /proc/$$/fd/*; do
        fd=${fd_path##*/}
        if [ "$fd" -gt 2 ] && [ "$fd" -ne 255 ]; then eval "exec $fd>&-" 2>/dev/null || true; fi
    done
}
