#!/usr/bin/env bash
# Figures for jobs on Slurm, against what a user would type instead. Needs a cluster
# that answers (tools/slurm/start.sh DIR; export SLURM_CONF=DIR/slurm.conf) with at
# least 16 CPUs on a node, and a built runner (cargo build --release -p jobgraph-cli).
#
#   tools/bench-commands/slurm.sh [RUNS]      # best of RUNS (default 3), seconds
#
# 1. 200 `true` jobs, window 16, inside an allocation (each a step):
#    jobgraph run --slurm  against  xargs -P 16 -n1 srun --exclusive -n1 true
# 2. The same 200 outside an allocation (each a batch job):
#    jobgraph run --slurm  against  200 `sbatch --wait` by hand, 16 at a time
# 3. A chain of 20 jobs: jobgraph run --slurm  against  jobgraph submit (Slurm's own
#    dependencies), until the last one ended
# 4. Slurm status queries per batch job, from the runner's --verbose line.
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-3}
jobgraph=target/release/jobgraph
[ -x "$jobgraph" ] || { echo "build it first: cargo build --release -p jobgraph-cli" >&2; exit 2; }
sinfo >/dev/null 2>&1 || { echo "no Slurm cluster answers sinfo (SLURM_CONF?)" >&2; exit 2; }
work=$(mktemp -d /tmp/jobgraph-slurm-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT

{
    echo "window = 16"
    for i in $(seq 200); do printf '[[job]]\nid = "t%d"\ncommand = ["true"]\n' "$i"; done
} > "$work/flat.toml"
{
    for i in $(seq 20); do
        printf '[[job]]\nid = "c%d"\ncommand = ["true"]\n' "$i"
        [ "$i" -gt 1 ] && printf 'requires = ["c%d"]\n' $((i - 1))
    done
} > "$work/chain.toml"

best() { # best of $runs wall times of "$@"
    local best=""
    for _ in $(seq "$runs"); do
        local start end t
        start=$(date +%s.%N)
        "$@" >/dev/null 2>&1
        end=$(date +%s.%N)
        t=$(echo "$end - $start" | bc)
        if [ -z "$best" ] || [ "$(echo "$t < $best" | bc)" = 1 ]; then best=$t; fi
    done
    printf '%.3f' "$best"
}
ratio() { echo "scale=2; $1 / $2" | bc; }

echo "== 200 true jobs, window 16, inside an allocation (steps), best of $runs, seconds"
jg=$(best salloc -n16 --quiet "$jobgraph" run "$work/flat.toml" --slurm -q)
xa=$(best salloc -n16 --quiet sh -c "seq 200 | xargs -P 16 -n1 sh -c 'srun --exclusive -n1 --quiet true'")
echo "jobgraph run --slurm            $jg"
echo "xargs -P 16 srun --exclusive    $xa   jobgraph/xargs = $(ratio "$jg" "$xa")"

echo "== the same 200 outside an allocation (batch jobs)"
jg=$(best "$jobgraph" run "$work/flat.toml" --slurm -q)
by=$(best sh -c "seq 200 | xargs -P 16 -I{} sbatch --wait --quiet --output=/dev/null --wrap=true")
echo "jobgraph run --slurm            $jg"
echo "sbatch --wait, 16 at a time     $by   jobgraph/sbatch = $(ratio "$jg" "$by")"

echo "== a chain of 20 jobs, outside an allocation"
jg=$(best "$jobgraph" run "$work/chain.toml" --slurm -q)
submit_chain() {
    local state
    state=$(mktemp -d "$work/state.XXXXXX")
    rmdir "$state"
    "$jobgraph" submit "$work/chain.toml" --state "$state" >/dev/null
    while "$jobgraph" status "$state" | grep -qE 'PENDING|RUNNING|COMPLETING|CONFIGURING'; do
        sleep 0.2
    done
}
sub=$(best submit_chain)
echo "jobgraph run --slurm            $jg   ($(echo "scale=3; $jg / 20" | bc) s per link)"
echo "jobgraph submit (dependencies)  $sub   ($(echo "scale=3; $sub / 20" | bc) s per link)"

echo "== Slurm status queries per batch job (200 jobs, window 16)"
"$jobgraph" run "$work/flat.toml" --slurm --verbose | grep "Slurm status queries"
