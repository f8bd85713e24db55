#!/usr/bin/env bash
# Stops what tools/slurm/start.sh started in STATE_DIR, by the pids it wrote: slurmd,
# slurmctld, then munged (when start.sh started it). Waits until each is gone.
set -uo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 STATE_DIR" >&2
    exit 2
fi
dir=$1
for daemon in slurmd slurmctld munged; do
    file="$dir/$daemon.pid"
    [ -f "$file" ] || continue
    pid=$(cat "$file")
    if kill "$pid" 2>/dev/null; then
        # A bounded wait; then SIGKILL.
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$file"
done
