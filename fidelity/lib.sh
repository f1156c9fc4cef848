# Sourced by the fidelity scripts: the simulator and helper servers on loopback, bounded waits,
# and every process they start ended on exit. Needs bash, python3 (free ports) and the built
# berth binary ($BERTH, default target/debug/berth).

BERTH=${BERTH:-${CARGO_TARGET_DIR:-target}/debug/berth}
FIDELITY_PIDS=()
FIDELITY_TMP=$(mktemp -d "${TMPDIR:-/tmp}/berth-fidelity.XXXXXX")

fidelity_cleanup() {
    local pid
    for pid in "${FIDELITY_PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${FIDELITY_PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$FIDELITY_TMP"
}
trap fidelity_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

say() { printf '%s\n' "fidelity: $*" >&2; }
die() {
    say "FAILED: $*"
    exit 1
}

# A loopback port nobody listens on right now.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# wait_port PORT SECONDS PID: until something accepts on 127.0.0.1:PORT; fails when PID dies
# or SECONDS pass.
wait_port() {
    local port=$1 seconds=$2 pid=$3 i
    for ((i = 0; i < seconds * 10; i++)); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# start_sim LOG: starts `berth sim` on a free loopback port and sets SIM_URL.
start_sim() {
    local log=$1 port
    [ -x "$BERTH" ] || die "$BERTH is missing: run cargo build first"
    port=$(free_port)
    "$BERTH" sim --listen "127.0.0.1:$port" >"$log" 2>&1 &
    FIDELITY_PIDS+=("$!")
    wait_port "$port" 20 "$!" || {
        cat "$log" >&2
        die "berth sim did not listen on 127.0.0.1:$port within 20 s"
    }
    SIM_URL="http://127.0.0.1:$port"
}
