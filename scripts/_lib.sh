# shellcheck shell=bash
# Shared helpers for scripts/test.sh and scripts/demo.sh. Source it; don't run it.
#
#   ensure_apt PKG[=PROBE]...  install missing Debian packages (apt-get update only if needed)
#   ensure_venv                create/repair $REPO/.venv and `pip install -e "$REPO[test]"`
#   ensure_localstripe         create $REPO/.venv-localstripe with the fake Stripe server (tests only)
#   free_port [N]              print N (default 1) distinct free TCP ports on 127.0.0.1
#   port_in_use PORT [HOST]    true if something already listens on HOST:PORT

if [[ -z ${REPO:-} ]]; then
    REPO=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
fi
VENV="$REPO/.venv"
VENV_STAMP="$VENV/.zhongcao-installed"

log() { printf '[zhongcao] %s\n' "$*" >&2; }
die() { printf '[zhongcao] error: %s\n' "$*" >&2; exit 1; }

# Run a command as root: directly when we are root, through sudo otherwise.
_as_root() {
    if ((EUID == 0)); then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        die "need root (or sudo) to run: $*"
    fi
}

_dpkg_installed() {
    [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]
}

# PROBE is a command name, or an absolute path (globs allowed).
_probe_ok() {
    if [[ $1 == /* ]]; then
        compgen -G "$1" >/dev/null
    else
        command -v "$1" >/dev/null 2>&1
    fi
}

_ZHONGCAO_POLICY_MARK="# zhongcao: temporary, blocks service starts during apt-get install"

# Install Debian packages. Package maintainer scripts would otherwise start
# system-wide postgres/redis on 5432/6379 (the machine is shared, and the test
# script runs its own throwaway servers), so a temporary policy-rc.d denies
# service starts unless the machine already has one.
apt_install() {
    command -v apt-get >/dev/null 2>&1 || die "apt-get not found; install by hand: $*"
    local policy=/usr/sbin/policy-rc.d made_policy=0 rc=0
    if [[ -f $policy ]] && grep -qF "$_ZHONGCAO_POLICY_MARK" "$policy" 2>/dev/null; then
        _as_root rm -f "$policy"   # left over by an interrupted earlier run
    fi
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\n%s\nexit 101\n' "$_ZHONGCAO_POLICY_MARK" | _as_root tee "$policy" >/dev/null
        _as_root chmod 755 "$policy"
        made_policy=1
    fi
    log "installing Debian packages: $*"
    _as_root env DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=600 update \
        || log "warning: apt-get update failed; trying the install anyway"
    _as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q -o DPkg::Lock::Timeout=600 "$@" \
        || rc=$?
    if ((made_policy)); then _as_root rm -f "$policy"; fi
    ((rc == 0)) || die "apt-get install failed (exit $rc): $*"
}

# ensure_apt PKG[=PROBE]... : a package counts as present when its PROBE
# (command name or absolute path glob) is found, or, without a probe, when
# dpkg reports it installed. apt is not touched at all when nothing is missing.
ensure_apt() {
    local spec pkg probe missing=() probes=()
    for spec in "$@"; do
        pkg=${spec%%=*}
        probe=
        [[ $spec == *=* ]] && probe=${spec#*=}
        if [[ -n $probe ]]; then
            _probe_ok "$probe" && continue
        else
            _dpkg_installed "$pkg" && continue
        fi
        missing+=("$pkg")
        probes+=("$probe")
    done
    ((${#missing[@]} == 0)) && return 0
    apt_install "${missing[@]}"
    local i
    for i in "${!missing[@]}"; do
        if [[ -n ${probes[i]} ]] && ! _probe_ok "${probes[i]}"; then
            die "installed ${missing[i]} but still cannot find ${probes[i]}"
        fi
    done
}

# Print the first Python >= 3.11 found on PATH.
find_python() {
    local c
    for c in python3 python3.13 python3.12 python3.11; do
        if command -v "$c" >/dev/null 2>&1 \
            && "$c" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            command -v "$c"
            return 0
        fi
    done
    return 1
}

_venv_ok() {
    [[ -x $VENV/bin/python ]] && "$VENV/bin/python" -c 'import sys, pip' >/dev/null 2>&1
}

_stamp_value() {
    local sum
    sum=$(sha256sum "$REPO/pyproject.toml" | cut -d' ' -f1)
    printf '%s %s\n' "$sum" "$REPO"
}

# pip, with the harmless "Location '...' is ignored" warnings (PIP_FIND_LINKS
# pointing at a missing folder; pip words it two ways) dropped from stderr;
# everything else, real errors included, is kept.
_pip() {
    local rc=0
    { "$VENV/bin/python" -m pip "$@" 2>&1 1>&3 3>&- \
        | { grep -Ev "^WARNING: Location '.*' is ignored: it is (neither a file nor a directory|either a non-existing path)" || true; } >&2; } 3>&1 \
        || rc=$?
    return "$rc"
}

# uv installs the same releases as pip in seconds where pip takes about a minute (measured
# here: 8 s cold against 55 s warm). It does not read pip's configuration (mirrors,
# find-links, constraints), so when it cannot install, pip does.
UV_SPEC="uv>=0.9,<0.14"

_install() {  # _install ARGS...: pip install ARGS into $VENV, through uv when it can
    if _pip install -q "$UV_SPEC" >/dev/null 2>&1 && "$VENV/bin/uv" pip install --python "$VENV/bin/python" "$@"; then
        return 0
    fi
    log "uv could not install ($*): pip instead"
    _pip install "$@"
}

ensure_venv() {
    local py
    if ! command -v python3 >/dev/null 2>&1; then
        ensure_apt python3 python3-venv
    fi
    if ! _venv_ok; then
        py=$(find_python) || die "need Python >= 3.11 (found: $(python3 --version 2>&1))"
        log "creating virtualenv $VENV with $py"
        if ! "$py" -m venv --clear "$VENV" >/dev/null 2>&1 || ! _venv_ok; then
            # Debian's python3 without python3-venv cannot create venvs (no ensurepip).
            if [[ $py == /usr/bin/* ]]; then
                apt_install python3-venv
            else
                ensure_apt python3-venv
            fi
            "$py" -m venv --clear "$VENV" || die "python3 -m venv $VENV failed"
            _venv_ok || die "virtualenv at $VENV has no working pip"
        fi
    fi
    if [[ -f $VENV_STAMP && $(cat "$VENV_STAMP") == "$(_stamp_value)" ]]; then
        return 0
    fi
    log "installing zhongcao[test] into $VENV (pip install -e)"
    rm -f "$VENV_STAMP"
    _install -q -e "${REPO}[test]" || die "pip install -e \"${REPO}[test]\" failed"
    _stamp_value >"$VENV_STAMP"
}

# localstripe (a stateful fake Stripe server) lives in a venv of its own: it brings
# aiohttp and friends, which the app itself does not need. 1.15.10 runs on Python 3.11+
# with aiohttp 3.x.
LOCALSTRIPE_VENV="$REPO/.venv-localstripe"
LOCALSTRIPE_SPEC="localstripe==1.15.10 aiohttp>=3.9,<4"

ensure_localstripe() {
    local py stamp="$LOCALSTRIPE_VENV/.zhongcao-installed"
    if [[ -f $stamp && $(cat "$stamp") == "$LOCALSTRIPE_SPEC" ]] \
        && "$LOCALSTRIPE_VENV/bin/python" -c 'import localstripe.server' >/dev/null 2>&1; then
        return 0
    fi
    py=$(find_python) || die "need Python >= 3.11 for localstripe"
    log "creating $LOCALSTRIPE_VENV ($LOCALSTRIPE_SPEC)"
    rm -rf -- "$LOCALSTRIPE_VENV"
    "$py" -m venv "$LOCALSTRIPE_VENV" || die "python3 -m venv $LOCALSTRIPE_VENV failed"
    # shellcheck disable=SC2086  # the spec is a list of requirements
    VENV=$LOCALSTRIPE_VENV _install -q $LOCALSTRIPE_SPEC || die "pip install $LOCALSTRIPE_SPEC failed"
    "$LOCALSTRIPE_VENV/bin/python" -c 'import localstripe.server' || die "localstripe does not import"
    printf '%s\n' "$LOCALSTRIPE_SPEC" >"$stamp"
}

_py() {
    local py
    if [[ -x $VENV/bin/python ]]; then py=$VENV/bin/python; else py=python3; fi
    "$py" "$@"
}

# free_port [N]: N distinct free ports, one per line. All sockets are held open
# together so the same port cannot be handed out twice.
free_port() {
    _py - "${1:-1}" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    socks.append(s)
for s in socks:
    print(s.getsockname()[1])
    s.close()
PY
}

# port_in_use PORT [HOST]: true when something accepts connections there.
port_in_use() {
    _py - "$1" "${2:-127.0.0.1}" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.settimeout(0.5)
sys.exit(0 if s.connect_ex((sys.argv[2], int(sys.argv[1]))) == 0 else 1)
PY
}
