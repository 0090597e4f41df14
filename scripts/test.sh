#!/usr/bin/env bash
# The test command: bash scripts/test.sh [pytest args...]
#
# Installs what is missing (Debian packages, .venv, .venv-localstripe), starts a
# throwaway PostgreSQL, Redis and localstripe (a fake Stripe) on free ports, runs
# pytest once against SQLite and once against PostgreSQL (side by side, each with its
# own Redis and localstripe; ZHONGCAO_TEST_SERIAL=1 runs them one after the other),
# then stops the servers and removes their temp dirs.
# Exits non-zero if either run fails (pytest's "no tests collected" included).
set -euo pipefail

# A developer's production settings must never leak into the tests (this script's own
# switches, ZHONGCAO_TEST_SERIAL and ZHONGCAO_TEST_WORKERS, stay).
while IFS= read -r _var; do
    if [[ $_var == ZHONGCAO_* && $_var != ZHONGCAO_TEST_SERIAL && $_var != ZHONGCAO_TEST_WORKERS ]]; then unset "$_var"; fi
done < <(compgen -e)
unset _var

REPO=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
# shellcheck source=scripts/_lib.sh
source "$REPO/scripts/_lib.sh"

ensure_apt \
    'postgresql=/usr/lib/postgresql/*/bin/pg_ctl' \
    redis-server=redis-server \
    chromium=chromium \
    fonts-noto-cjk \
    wrk=wrk \
    nginx=/usr/sbin/nginx \
    'libnginx-mod-rtmp=/usr/lib/nginx/modules/ngx_rtmp_module.so' \
    ffmpeg=ffmpeg
command -v redis-cli >/dev/null 2>&1 || ensure_apt redis-tools=redis-cli
ensure_venv
ensure_localstripe

PG_BIN=$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n1)
[[ -x $PG_BIN/pg_ctl ]] || die "no PostgreSQL binaries under /usr/lib/postgresql"

# ---------------------------------------------------------------- cleanup
PG_TMP=
REDIS_TMP=
PYTEST_TMP=
PG_UP=0
STRIPE_TMP=
STRIPE_PIDS=()
WARM_PID=

# Postgres refuses to run as root: as root, run its tools as the postgres user.
as_pg() {
    if ((EUID == 0)); then
        (cd "$PG_TMP" && runuser -u postgres -- "$@")
    else
        (cd "$PG_TMP" && "$@")
    fi
}

stop_postgres() {
    [[ -n $PG_TMP && -d $PG_TMP/data ]] || return 0
    if ((PG_UP)) || [[ -f $PG_TMP/data/postmaster.pid ]]; then
        as_pg "$PG_BIN/pg_ctl" -D "$PG_TMP/data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
    fi
    if [[ -f $PG_TMP/data/postmaster.pid ]]; then
        local pid
        pid=$(head -n1 "$PG_TMP/data/postmaster.pid" 2>/dev/null || true)
        if [[ $pid =~ ^[0-9]+$ ]]; then kill -KILL "$pid" 2>/dev/null || true; fi
    fi
    PG_UP=0
}

stop_redis_in() {  # stop_redis_in DIR
    # Only ever signal the pid from our own pidfile: a "shutdown" sent to the
    # port could reach another user's redis if ours never bound it.
    [[ -f $1/redis.pid ]] || return 0
    stop_pid "$(cat "$1/redis.pid" 2>/dev/null || true)"
}

stop_redis() {
    [[ -n $REDIS_TMP && -d $REDIS_TMP ]] || return 0
    local dir
    for dir in "$REDIS_TMP"/*/; do
        stop_redis_in "${dir%/}"
    done
}

stop_pid() {  # stop_pid PID: only a process we started ourselves
    [[ $1 =~ ^[0-9]+$ ]] || return 0
    local i
    kill -TERM "$1" 2>/dev/null || return 0
    for ((i = 0; i < 50; i++)); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.1
    done
    kill -KILL "$1" 2>/dev/null || true
}

stop_localstripe() {
    local pid
    for pid in "${STRIPE_PIDS[@]}"; do
        stop_pid "$pid"
    done
    STRIPE_PIDS=()
}

# shellcheck disable=SC2317  # invoked from the traps below
cleanup() {
    local rc=$?
    set +e
    trap - EXIT INT TERM HUP
    stop_pid "$WARM_PID"
    stop_postgres
    stop_redis
    stop_localstripe
    [[ -n $PG_TMP ]] && rm -rf -- "$PG_TMP"
    [[ -n $REDIS_TMP ]] && rm -rf -- "$REDIS_TMP"
    [[ -n $PYTEST_TMP ]] && rm -rf -- "$PYTEST_TMP"
    [[ -n $STRIPE_TMP ]] && rm -rf -- "$STRIPE_TMP"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# ---------------------------------------------------------------- postgres
# /tmp explicitly: the postgres user must be able to reach the directory.
PG_TMP=$(mktemp -d /tmp/zhongcao-pg.XXXXXX)
REDIS_TMP=$(mktemp -d /tmp/zhongcao-redis.XXXXXX)
# pytest's own temp folders rotate (it keeps the last 3), so two runs side by side could
# delete each other's databases: each run of this script gets private ones
PYTEST_TMP=$(mktemp -d /tmp/zhongcao-pytest.XXXXXX)

# ZHONGCAO_TEST_WORKERS=N spreads each run over N pytest-xdist workers, each with a
# localstripe of its own (core.testing gives each its database and Redis index). Off by
# default: measured on 2 cores, both runs side by side already keep the CPU busy (20m14s
# with 2 workers each against 19m44s without), the workers add their own start-up, and
# the crowd tests (group_buy, live) starved for connections.
WORKERS=${ZHONGCAO_TEST_WORKERS:-0}
[[ $WORKERS =~ ^[0-9]+$ ]] || die "ZHONGCAO_TEST_WORKERS must be a number, not '$WORKERS'"

# Python compiles each module it imports; under PYTHONDONTWRITEBYTECODE (set in some
# environments) it keeps none of it, and every pytest worker and every subprocess a test
# starts (the CLI, the demo) compiled the project and the tests (assertion rewriting)
# again: ~10 s of CPU a worker. The tests keep their bytecode (__pycache__, git-ignored);
# with workers, for a whole run, a collection made while the servers start compiles it
# once for all of them.
unset PYTHONDONTWRITEBYTECODE
if (($# == 0 && WORKERS > 0)); then
    (cd "$REPO" && exec "$VENV/bin/python" -m pytest --collect-only -q -p no:cacheprovider) >"$PYTEST_TMP/warm-up.log" 2>&1 &
    WARM_PID=$!
fi
if ((EUID == 0)); then
    chown postgres: "$PG_TMP" || die "cannot chown $PG_TMP to the postgres user"
fi

as_pg "$PG_BIN/initdb" -D "$PG_TMP/data" -A trust -U postgres --no-sync -E UTF8 --locale=C \
    >"$PG_TMP/initdb.log" 2>&1 || { cat "$PG_TMP/initdb.log" >&2; die "initdb failed"; }

PG_PORT=
for _try in 1 2 3; do
    _port=$(free_port 1)
    if as_pg "$PG_BIN/pg_ctl" -w -t 60 -D "$PG_TMP/data" -l "$PG_TMP/postgres.log" \
        -o "-p $_port -k $PG_TMP -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
        start >/dev/null 2>&1; then
        PG_UP=1
        PG_PORT=$_port
        break
    fi
    log "postgres did not start on port $_port (attempt $_try):"
    tail -n 5 "$PG_TMP/postgres.log" >&2 2>/dev/null || true
    stop_postgres
done
[[ -n $PG_PORT ]] || die "could not start PostgreSQL"

"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres \
    -c 'CREATE DATABASE zhongcao_test' >/dev/null || die "could not create database zhongcao_test"
log "postgres $(basename "$(dirname "$PG_BIN")") on 127.0.0.1:$PG_PORT (data in $PG_TMP)"

# ---------------------------------------------------------------- redis
redis_is_ours() {  # redis_is_ours PORT DIR
    # Another user's redis could answer on a port we raced for; check it is ours.
    local dir
    dir=$(redis-cli -h 127.0.0.1 -p "$1" --raw config get dir 2>/dev/null | sed -n 2p)
    [[ -n $dir && $(cd "$dir" 2>/dev/null && pwd -P) == "$(cd "$2" && pwd -P)" ]]
}

start_redis() {  # start_redis NAME: a private redis in $REDIS_TMP/NAME; prints its port
    local dir=$REDIS_TMP/$1 port ok=0 try i
    mkdir -p "$dir"
    for try in 1 2 3; do
        port=$(free_port 1)
        rm -f "$dir/redis.pid"
        if redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no \
            --dir "$dir" --daemonize yes --pidfile "$dir/redis.pid" \
            --logfile "$dir/redis.log" >/dev/null 2>&1; then
            for ((i = 0; i < 100; i++)); do
                if [[ $(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null) == PONG ]] && redis_is_ours "$port" "$dir"; then
                    ok=1
                    break
                fi
                sleep 0.1
            done
        fi
        ((ok)) && break
        log "redis did not start on port $port (attempt $try):"
        tail -n 5 "$dir/redis.log" >&2 2>/dev/null || true
        stop_redis_in "$dir"
    done
    ((ok)) || die "could not start redis-server"
    echo "$port"
}

REDIS_PORT_SQLITE=$(start_redis sqlite)
REDIS_PORT_PG=$(start_redis postgres)
log "redis on 127.0.0.1:$REDIS_PORT_SQLITE (sqlite run) and :$REDIS_PORT_PG (postgres run)"

# ---------------------------------------------------------------- localstripe
# A fake Stripe for tests/core/test_stripe.py and test_webhooks.py. Started through
# its library rather than its `localstripe` command: same app, but bound to 127.0.0.1
# only (the command listens on every interface) and starting from scratch without
# saving its state to /tmp/localstripe.pickle after every request (the command's
# --from-scratch still writes that shared file).
STRIPE_TMP=$(mktemp -d /tmp/zhongcao-stripe.XXXXXX)
LOCALSTRIPE_RUN='
import logging, sys
from aiohttp import web
import localstripe.resources
localstripe.resources.Store.dump_to_disk = lambda self: None
from localstripe.server import app
access = logging.getLogger("aiohttp.access")
access.setLevel(logging.INFO)
access.addHandler(logging.StreamHandler())
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=access, print=None)
'

localstripe_answers() {  # localstripe_answers PORT
    _py - "$1" <<'PY'
import sys, urllib.request
req = urllib.request.Request(f"http://127.0.0.1:{sys.argv[1]}/v1/balance", headers={"Authorization": "Bearer sk_test_probe"})
try:
    with urllib.request.urlopen(req, timeout=1) as r:
        sys.exit(0 if r.status == 200 else 1)
except Exception:
    sys.exit(1)
PY
}

start_localstripe() {  # start_localstripe NAME: sets STRIPE_PORT (one per pytest worker: webhook config is global)
    local port try i pid log=$STRIPE_TMP/localstripe-$1.log
    STRIPE_PORT=
    for try in 1 2 3; do
        port=$(free_port 1)
        "$LOCALSTRIPE_VENV/bin/python" -c "$LOCALSTRIPE_RUN" "$port" >"$log" 2>&1 &
        pid=$!
        STRIPE_PIDS+=("$pid")
        for ((i = 0; i < 150; i++)); do
            kill -0 "$pid" 2>/dev/null || break
            if localstripe_answers "$port"; then
                STRIPE_PORT=$port
                return 0
            fi
            sleep 0.1
        done
        log "localstripe did not start on port $port (attempt $try):"
        tail -n 5 "$log" >&2 2>/dev/null || true
        stop_pid "$pid"
    done
    die "could not start localstripe"
}

start_localstripes() {  # start_localstripes NAME: one per worker; sets STRIPE_BASES (their URLs, comma-separated)
    local i urls=()
    for ((i = 0; i < (WORKERS > 0 ? WORKERS : 1); i++)); do
        start_localstripe "$1-$i"
        urls+=("http://127.0.0.1:$STRIPE_PORT")
    done
    STRIPE_BASES=$(IFS=,; echo "${urls[*]}")
}
start_localstripes sqlite
STRIPE_BASES_SQLITE=$STRIPE_BASES
start_localstripes postgres
STRIPE_BASES_PG=$STRIPE_BASES
log "localstripe on $STRIPE_BASES_SQLITE (sqlite run) and $STRIPE_BASES_PG (postgres run); logs in $STRIPE_TMP"

# ---------------------------------------------------------------- pytest
export ZHONGCAO_TEST_CHROMIUM
ZHONGCAO_TEST_CHROMIUM=$(command -v chromium || echo /usr/bin/chromium)
export ZHONGCAO_TEST_PG_ADMIN_URL="postgresql://postgres@127.0.0.1:$PG_PORT/postgres"

cd "$REPO"

run_pytest() {  # run_pytest NAME [VAR=value...] -- [pytest args...]
    local name=$1 envs=()
    shift
    while [[ $1 != -- ]]; do envs+=("$1"); shift; done
    shift
    local rc=0 spread=()
    # a file's tests stay on one worker (module fixtures: a browser module's demo server)
    ((WORKERS > 0)) && spread=(-n "$WORKERS" --dist loadfile)
    env "${envs[@]}" "ZHONGCAO_TEST_HANG_LOG=$PYTEST_TMP/$name-hang.log" "$VENV/bin/python" -m pytest --basetemp "$PYTEST_TMP/$name" --durations=15 "${spread[@]}" "$@" || rc=$?
    return "$rc"
}

SQLITE_ENV=(ZHONGCAO_TEST_BACKEND=sqlite ZHONGCAO_TEST_PASSES=both
    "ZHONGCAO_TEST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT_SQLITE/0"
    "ZHONGCAO_TEST_STRIPE_API_BASE=${STRIPE_BASES_SQLITE%%,*}" "ZHONGCAO_TEST_STRIPE_API_BASES=$STRIPE_BASES_SQLITE")
PG_ENV=(ZHONGCAO_TEST_BACKEND=postgres
    "ZHONGCAO_TEST_DATABASE_URL=postgresql+asyncpg://postgres@127.0.0.1:$PG_PORT/zhongcao_test"
    "ZHONGCAO_TEST_REDIS_URL=redis://127.0.0.1:$REDIS_PORT_PG/0"
    "ZHONGCAO_TEST_STRIPE_API_BASE=${STRIPE_BASES_PG%%,*}" "ZHONGCAO_TEST_STRIPE_API_BASES=$STRIPE_BASES_PG")

if [[ -n $WARM_PID ]]; then
    wait "$WARM_PID" || true  # a collection error shows in the runs themselves
    WARM_PID=
fi
sqlite_rc=0
postgres_rc=0
if [[ ${ZHONGCAO_TEST_SERIAL:-} == 1 ]]; then
    printf '\n=== pytest on sqlite ===\n'
    run_pytest sqlite "${SQLITE_ENV[@]}" -- "$@" || sqlite_rc=$?
    printf '\n=== pytest on postgres ===\n'
    run_pytest postgres "${PG_ENV[@]}" -- "$@" || postgres_rc=$?
else
    # Side by side: much of a run waits on servers, browsers and subprocesses, so two
    # runs on two cores take far less than twice one. Each writes its own log, printed
    # whole when both are done.
    mkdir -p "$PYTEST_TMP"
    log "pytest on sqlite and postgres side by side (logs: $PYTEST_TMP/*.log)"
    run_pytest sqlite "${SQLITE_ENV[@]}" -- "$@" >"$PYTEST_TMP/sqlite.log" 2>&1 &
    sqlite_pid=$!
    run_pytest postgres "${PG_ENV[@]}" -- "$@" >"$PYTEST_TMP/postgres.log" 2>&1 &
    postgres_pid=$!
    wait "$sqlite_pid" || sqlite_rc=$?
    wait "$postgres_pid" || postgres_rc=$?
    printf '\n=== pytest on sqlite ===\n'
    cat "$PYTEST_TMP/sqlite.log"
    printf '\n=== pytest on postgres ===\n'
    cat "$PYTEST_TMP/postgres.log"
fi

describe() {
    case $1 in
        0) echo "passed" ;;
        5) echo "FAILED (pytest exit 5: no tests collected)" ;;
        *) echo "FAILED (pytest exit $1)" ;;
    esac
}
for hang in "$PYTEST_TMP"/*-hang.log; do  # an app shutdown that hung (core.testing.zc_client)
    [[ -f $hang ]] && { printf '\n=== %s ===\n' "${hang##*/}"; cat "$hang"; }
done

printf '\n=== summary ===\n'
printf 'sqlite:   %s\n' "$(describe "$sqlite_rc")"
printf 'postgres: %s\n' "$(describe "$postgres_rc")"

((sqlite_rc == 0 && postgres_rc == 0)) || exit 1
exit 0
