#!/usr/bin/env bash
# The main job, on embedded defaults: builds drp-endpoint, starts a 3-node HA cluster on free
# loopback ports (node 1 bootstraps, nodes 2 and 3 join it), waits until all three are voters
# with one leader, writes a profile through a follower, reads it back from every member and
# prints the cluster state and URLs to try. Ctrl-C stops every node cleanly.
#
#   scripts/quickstart.sh                  # run until Ctrl-C
#   scripts/quickstart.sh --exit-when-ready  # stop after the checks (used by the tests)
set -euo pipefail
cd "$(dirname "$0")/.."

exit_when_ready=false
[[ "${1:-}" == "--exit-when-ready" ]] && exit_when_ready=true

cargo build -q -p endpoint --bin drp-endpoint
bin="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')/debug/drp-endpoint"
work="$(mktemp -d -t drp-quickstart-XXXXXX)"
# The admin password of the new cluster (user rocketskates); every API call authenticates.
export RS_ADMIN_PASSWORD="${RS_ADMIN_PASSWORD:-quickstart-$(python3 -c 'import secrets; print(secrets.token_hex(6))')}"
auth=(-u "rocketskates:$RS_ADMIN_PASSWORD")
pids=()

cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

api=() ; url=()
for i in 1 2 3; do
  a=$(free_port); c=$(free_port)
  args=(serve --data-dir "$work/node$i" --api-listen "127.0.0.1:$a" --consensus-listen "127.0.0.1:$c" --ha-id quickstart)
  if [[ $i == 1 ]]; then args+=(--bootstrap); else args+=(--join "${url[0]}"); fi
  "$bin" "${args[@]}" >"$work/node$i.log" 2>&1 &
  pids+=($!); api+=("$a"); url+=("http://127.0.0.1:$a")
  if [[ $i == 1 ]]; then
    for _ in $(seq 100); do curl -sf "${url[0]}/api/v3/info" >/dev/null && break; sleep 0.1; done
  fi
done

voters() { curl -sf -m 2 "${auth[@]}" "$1/api/v3/system/consensus/state" | python3 -c 'import json,sys; s=json.load(sys.stdin); print(sum(1 for n in s["Nodes"] if n["Voter"]) if s["LeaderID"] else 0)' 2>/dev/null || echo 0; }
for _ in $(seq 300); do [[ "$(voters "${url[2]}")" == 3 ]] && break; sleep 0.1; done
if [[ "$(voters "${url[2]}")" != 3 ]]; then
  echo "cluster did not form; logs in $work" >&2; tail -5 "$work"/node*.log >&2; exit 1
fi

leader=$(curl -sf "${auth[@]}" "${url[0]}/api/v3/system/consensus/leader" | tr -d '"')
follower=""
for u in "${url[@]}"; do
  [[ "$(curl -sf "${auth[@]}" "$u/api/v3/system/consensus/id" | tr -d '"')" != "$leader" ]] && { follower=$u; break; }
done
curl -sf "${auth[@]}" -X POST "$follower/api/v3/profiles" -H 'Content-Type: application/json' \
  -d '{"Name":"quickstart","Description":"written through a follower","Params":{"demo/answer":42}}' >/dev/null
for u in "${url[@]}"; do
  got=$(curl -sf "${auth[@]}" "$u/api/v3/profiles/quickstart/params/demo/answer")
  [[ "$got" == 42 ]] || { echo "member $u read $got, want 42" >&2; exit 1; }
done

echo "3-node cluster 'quickstart' is up (leader $leader)."
curl -sf "${auth[@]}" "${url[0]}/api/v3/system/consensus/state" | python3 -m json.tool
cat <<MSG

A profile written through the follower $follower is readable on every member.
Try (admin password: $RS_ADMIN_PASSWORD):
  curl -u rocketskates:$RS_ADMIN_PASSWORD ${url[0]}/api/v3/system/consensus/state
  curl -u rocketskates:$RS_ADMIN_PASSWORD -X POST ${url[1]}/api/v3/profiles -d '{"Name":"mine"}'
  curl -u rocketskates:$RS_ADMIN_PASSWORD ${url[2]}/api/v3/profiles
Logs and data: $work
MSG

if $exit_when_ready; then exit 0; fi
echo "Press Ctrl-C to stop the cluster."
while true; do sleep 3600; done
