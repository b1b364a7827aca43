#!/usr/bin/env bash
# Starts N cooperating JAX processes on this machine, as N hosts would be started.
# Usage: launch/multihost.sh N experiments.<name> --workdir=DIR [flags...]
set -euo pipefail
num_processes="$1"; shift
module="$1"; shift
port="${JAX_PORT:-12355}"
pids=()
for ((i = 0; i < num_processes; i++)); do
  JAX_COORDINATOR_ADDRESS="localhost:${port}" JAX_NUM_PROCESSES="$num_processes" \
    JAX_PROCESS_ID="$i" JAX_PLATFORMS="${JAX_PLATFORMS:-cpu}" \
    python -m "$module" "$@" &
  pids+=("$!")
done
status=0
for pid in "${pids[@]}"; do wait "$pid" || status=$?; done
exit "$status"
