#!/usr/bin/env bash
# Throughput and latency of `GET /api/platform/bluesky/status` (valid token, no account
# connected) on a release hayon-host, on loopback only. Needs `wrk` (apt-get install wrk).
#
#   host/benches/bench-status.sh            # 16 connections, then 1 connection, 10 s each
#   DURATION=30s PORT=3990 host/benches/bench-status.sh
#
# The host logs every request at info (as in production), to a file under the temporary
# data directory. The script stops the host when it ends.
set -euo pipefail
cd "$(dirname "$0")/../.."

PORT=${PORT:-3990}
DURATION=${DURATION:-10s}
DATA=$(mktemp -d)
URL="http://127.0.0.1:${PORT}/api/platform/bluesky/status"

cargo build --release -p hayon-host

export ACCESS_TOKEN_SECRET="bench-access-token-secret"
export TOKEN_ENCRYPTION_KEY="AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
export FRONTEND_URL="http://localhost:5173"
export PUBLIC_BASE_URL="http://127.0.0.1:${PORT}"

target/release/hayon-host --listen "127.0.0.1:${PORT}" --data-dir "$DATA" --no-watch \
    2> "$DATA/host.log" &
HOST_PID=$!
trap 'kill "$HOST_PID" 2>/dev/null; wait "$HOST_PID" 2>/dev/null; rm -rf "$DATA"' EXIT

for _ in $(seq 1 300); do
    curl -fs "http://127.0.0.1:${PORT}/healthz" > /dev/null && break
    sleep 1
done

TOKEN=$(target/release/hayon-host token bench-user)
curl -fs -H "Authorization: Bearer ${TOKEN}" "$URL"
echo

echo "== 16 connections, ${DURATION}"
wrk -t2 -c16 -d"$DURATION" --latency -H "Authorization: Bearer ${TOKEN}" "$URL"
echo "== 1 connection, ${DURATION}"
wrk -t1 -c1 -d"$DURATION" --latency -H "Authorization: Bearer ${TOKEN}" "$URL"
