#!/bin/sh
# load.sh: loopback load test of a kiln service binary with wrk.
#
#     bench/load.sh [BUILD/kiln]        (default: build/kiln)
#
# Compiles samples/fraud-detection/fraud.onnx, starts `serve` on 127.0.0.1
# with a free port, and prints: time from exec to the "ready" log line;
# requests/s and p50/p99 latency for GET /v2/health/ready and for POST
# .../infer (the sample's 2-row request) at 1, 8 and 64 connections
# (DURATION_S seconds each, default 10); RSS before and after a soak of
# SOAK_S seconds (default 60) at 64 connections on infer; and every
# non-2xx answer or socket error (there must be none). Exits 1 if any.
# Benchmarks are not tests: ctest does not run this. Needs wrk and curl.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
src=$(dirname "$here")
kiln=${1:-$src/build/kiln}
duration=${DURATION_S:-10}
soak=${SOAK_S:-60}
workers=${WORKERS:-$(nproc)}
tmp=$(mktemp -d /tmp/kiln-load-XXXXXX)
pid=""
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    fi
    rm -rf "$tmp"
}
trap cleanup EXIT INT TERM

command -v wrk >/dev/null || { echo "load.sh: wrk is missing (apt-get install wrk)" >&2; exit 3; }
"$kiln" compile "$src/samples/fraud-detection/fraud.onnx" -o "$tmp/fraud" 2>"$tmp/compile.log" || {
    cat "$tmp/compile.log" >&2
    exit 3
}
export KILN_LOAD_BODY="$src/samples/fraud-detection/request.json"

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
now_ns() { date +%s%N; }

t0=$(now_ns)
"$tmp/fraud" serve --host 127.0.0.1 --port 0 --workers "$workers" 2>"$tmp/serve.log" &
pid=$!
port=""
for _ in $(seq 1 1000); do # at most 10 s
    port=$(sed -n 's/.*"event":"ready".*"port":\([0-9]*\).*/\1/p' "$tmp/serve.log" | head -n 1)
    [ -n "$port" ] && break
    sleep 0.01
done
t1=$(now_ns)
[ -n "$port" ] || { echo "load.sh: no ready line within 10 s" >&2; cat "$tmp/serve.log" >&2; exit 1; }
ready_ms=$(( (t1 - t0) / 1000000 ))
startup_us=$(sed -n 's/.*"event":"ready".*"startup_us":\([0-9]*\).*/\1/p' "$tmp/serve.log" | head -n 1)
curl -sf "http://127.0.0.1:$port/v2/health/ready" >/dev/null
base="http://127.0.0.1:$port"
size=$(stat -c %s "$tmp/fraud")
echo "binary: $size bytes; workers: $workers; exec -> ready line: ${ready_ms} ms (polled every 10 ms; server-side setup ${startup_us} us)"

errors=0
# run NAME CONNS URL [wrk args...]: one wrk run, one table row.
run() {
    name=$1 conns=$2 url=$3
    shift 3
    threads=$(( conns < 2 ? 1 : 2 ))
    wrk -t "$threads" -c "$conns" -d "${duration}s" --latency "$@" "$url" >"$tmp/wrk.out" 2>&1
    rps=$(awk '/^Requests\/sec:/ { print $2 }' "$tmp/wrk.out")
    p50=$(awk '$1 == "50%" { print $2 }' "$tmp/wrk.out")
    p99=$(awk '$1 == "99%" { print $2 }' "$tmp/wrk.out")
    bad=$(awk '/Non-2xx or 3xx responses:/ { print $NF }' "$tmp/wrk.out")
    sock=$(awk '/Socket errors:/ { gsub(",", ""); print $4 + $6 + $8 + $10 }' "$tmp/wrk.out")
    bad=${bad:-0} sock=${sock:-0}
    errors=$((errors + bad + sock))
    printf '%-8s %5s %12s %10s %10s %8s\n' "$name" "$conns" "$rps" "$p50" "$p99" "$((bad + sock))"
}

printf '%-8s %5s %12s %10s %10s %8s\n' endpoint conns requests/s p50 p99 errors
for c in 1 8 64; do run health "$c" "$base/v2/health/ready"; done
for c in 1 8 64; do run infer "$c" "$base/v2/models/fraud/infer" -s "$here/load.lua"; done

rss0=$(rss_kib "$pid")
duration=$soak
run soak 64 "$base/v2/models/fraud/infer" -s "$here/load.lua"
rss1=$(rss_kib "$pid")
echo "RSS: ${rss0} KiB before the ${soak} s soak, ${rss1} KiB after ($((rss1 - rss0)) KiB)"
curl -s "$base/metrics" | grep -E '^kiln_(inferences_total|open_connections|requests_total\{endpoint="infer",reason="ok"\})'

kill -TERM "$pid"
status=0
wait "$pid" || status=$?
pid=""
echo "SIGTERM: exit $status"
if [ "$errors" -ne 0 ] || [ "$status" -ne 0 ]; then
    echo "load.sh: $errors errors" >&2
    exit 1
fi
