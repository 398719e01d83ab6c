#!/usr/bin/env bash
# The main job, on embedded defaults: builds drp-endpoint and drp-manager, then runs
# `drp-manager quickstart`: three drp-endpoint nodes on free loopback ports form one HA cluster
# (site-a), a local git repo is made from examples/ (version sets, an endpoint, a catalog of
# example content packs), the manager follows it and applies the VersionSets to the cluster's
# leader, prints the status table and URLs to try, and Ctrl-C stops everything cleanly.
#
#   scripts/quickstart.sh                      # run until Ctrl-C
#   scripts/quickstart.sh --exit-after-apply   # return once applied (CI uses this)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build -q -p endpoint -p manager
target_dir="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
exec "$target_dir/debug/drp-manager" quickstart "$@"
