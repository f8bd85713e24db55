#!/usr/bin/env bash
# Side-by-side timings of the jobgraph runner against what people use today.
#
#   tools/bench-commands/bench.sh [RUNS]
#
# 1. 1,000 local `true` commands, window 8: jobgraph, xargs -P 8, GNU parallel -j 8,
#    and asynciojobs with asyncio subprocesses (when `import asynciojobs` works).
# 2. 200 ssh commands to one loopback sshd (started here, on a free port, with keys made
#    in a temp dir), window 16: jobgraph with its shared connection, and without it
#    (each job its own connection, at most 8 at once); plus `xargs -P 16 ssh` for
#    reference. The sshd log is searched for connections dropped by MaxStartups.
#
# BENCH_SKIP_LOCAL=1 skips part 1; BENCH_SSH_USER=name logs in as another user in part 2.
# Each figure is the best wall time of RUNS runs (default 5). Needs: a release build
# (made here), xargs, GNU parallel (Debian's `parallel`), sshd and ssh.
set -euo pipefail
cd "$(dirname "$0")/../.."
RUNS=${1:-5}
N=1000
SSH_N=200

nice cargo build --release -q -p jobgraph-cli
JOBGRAPH=$PWD/target/release/jobgraph
WORK=$(mktemp -d /tmp/jobgraph-bench.XXXXXX)
SSHD_PID=
cleanup() {
    if [ -n "$SSHD_PID" ]; then kill "$SSHD_PID" 2>/dev/null || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# best_of CMD...: runs CMD $RUNS times, prints the best wall time in seconds.
best_of() {
    local best= t0 t1 t
    for _ in $(seq "$RUNS"); do
        t0=$(date +%s.%N)
        "$@" >/dev/null 2>"$WORK/last.err" || { echo "FAILED: $*" >&2; cat "$WORK/last.err" >&2; "$@" | tail -20 >&2; return 1; }
        t1=$(date +%s.%N)
        t=$(echo "$t1 - $t0" | bc -l)
        if [ -z "$best" ] || [ "$(echo "$t < $best" | bc -l)" = 1 ]; then best=$t; fi
    done
    printf '%.3f' "$best"
}

ratio() { printf '%.2f' "$(echo "$1 / $2" | bc -l)"; }

# --- 1. local commands -------------------------------------------------------------
if [ -z "${BENCH_SKIP_LOCAL:-}" ]; then
{
    echo 'window = 8'
    for i in $(seq $N); do printf '[[job]]\nid = "t%d"\ncommand = ["true"]\n' "$i"; done
} >"$WORK/true.toml"

echo "== $N local \`true\` commands, window 8 (best of $RUNS, seconds)"
jg=$(best_of "$JOBGRAPH" run --quiet "$WORK/true.toml")
xa=$(best_of sh -c "seq $N | xargs -P 8 -I{} true")
if parallel --version 2>/dev/null | grep -q 'GNU parallel'; then
    pa=$(best_of sh -c "seq $N | parallel --will-cite -j 8 true")
else
    pa=
fi
if python3 -c 'import asynciojobs' 2>/dev/null; then
    aj=$(best_of python3 tools/bench-commands/asynciojobs_true.py $N 8)
else
    aj=
fi
printf '%-34s %8s\n' "jobgraph run --window 8" "$jg"
printf '%-34s %8s   jobgraph/xargs = %s\n' "xargs -P 8" "$xa" "$(ratio "$jg" "$xa")"
if [ -n "$pa" ]; then
    printf '%-34s %8s   jobgraph/parallel = %s\n' "GNU parallel -j 8" "$pa" "$(ratio "$jg" "$pa")"
else
    echo "GNU parallel: not installed (apt-get install parallel)"
fi
if [ -n "$aj" ]; then
    printf '%-34s %8s   jobgraph/asynciojobs = %s\n' "asynciojobs + asyncio subprocess" "$aj" "$(ratio "$jg" "$aj")"
else
    echo "asynciojobs: not installed (pip install asynciojobs)"
fi
fi

# --- 2. ssh commands ----------------------------------------------------------------
if [ ! -x /usr/sbin/sshd ] || ! command -v ssh >/dev/null; then
    echo "== ssh: SKIPPED, sshd or ssh is not installed (apt-get install openssh-server openssh-client)"
    exit 0
fi
if [ "$(id -u)" = 0 ]; then mkdir -p /run/sshd; fi
ssh-keygen -q -t ed25519 -N '' -f "$WORK/host_key"
ssh-keygen -q -t ed25519 -N '' -f "$WORK/user_key"
cp "$WORK/user_key.pub" "$WORK/authorized_keys"
# sshd reads it as the user logging in.
chmod 755 "$WORK"; chmod 644 "$WORK/authorized_keys"
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$WORK/sshd_config" <<CONF
Port $PORT
ListenAddress 127.0.0.1
HostKey $WORK/host_key
AuthorizedKeysFile $WORK/authorized_keys
PidFile $WORK/sshd.pid
StrictModes no
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
LogLevel INFO
CONF
/usr/sbin/sshd -D -E "$WORK/sshd.log" -f "$WORK/sshd_config" &
SSHD_PID=$!
for _ in $(seq 100); do
    if (exec 3<>/dev/tcp/127.0.0.1/$PORT) 2>/dev/null; then break; fi
    sleep 0.05
done
# The remote login shell starts once per command: a user whose shell reads heavy
# start-up files (a .bashrc that runs pyenv, say) measures those. BENCH_SSH_USER picks
# another user (any: the key is accepted for all, AuthorizedKeysFile being ours).
USER_NAME=${BENCH_SSH_USER:-$(id -un)}
echo
echo "(ssh as $USER_NAME, login shell $(getent passwd "$USER_NAME" | cut -d: -f7))"
ssh_scenario() { # shared(true|false) file
    {
        echo 'window = 16'
        echo '[ssh]'
        echo "identity = \"$WORK/user_key\""
        echo "options = [\"UserKnownHostsFile=$WORK/known_hosts\", \"StrictHostKeyChecking=no\"]"
        echo "shared = $1"
        for i in $(seq $SSH_N); do
            printf '[[job]]\nid = "s%d"\nhost = "%s@127.0.0.1:%d"\ncommand = ["true"]\n' "$i" "$USER_NAME" "$PORT"
        done
    } >"$2"
}
ssh_scenario true "$WORK/ssh-shared.toml"
ssh_scenario false "$WORK/ssh-alone.toml"
echo
echo "== $SSH_N ssh commands to one loopback host, window 16 (best of $RUNS, seconds)"
shared=$(best_of "$JOBGRAPH" run --quiet "$WORK/ssh-shared.toml")
al=$(best_of "$JOBGRAPH" run --quiet "$WORK/ssh-alone.toml")
printf '%-34s %8s\n' "jobgraph, shared connection" "$shared"
printf '%-34s %8s   shared/alone = %s\n' "jobgraph, one connection per job" "$al" "$(ratio "$shared" "$al")"
sleep 0.5
jg_drops=$(grep -c 'MaxStartups' "$WORK/sshd.log" || true)
echo "every jobgraph run exited 0 (all $SSH_N commands ok); sshd dropped $jg_drops connection(s) past MaxStartups"
SSH_CMD="ssh -o BatchMode=yes -o LogLevel=ERROR -i $WORK/user_key -o IdentitiesOnly=yes -o UserKnownHostsFile=$WORK/known_hosts -o StrictHostKeyChecking=no -p $PORT $USER_NAME@127.0.0.1 true"
failed=0
for _ in $(seq "$RUNS"); do
    if ! seq $SSH_N | xargs -P 16 -I{} $SSH_CMD >/dev/null 2>&1; then failed=$((failed + 1)); fi
done
sleep 0.5
all_drops=$(grep -c 'MaxStartups' "$WORK/sshd.log" || true)
echo "for reference, plain \`xargs -P 16 ssh\`: $failed of $RUNS runs had a failed ssh; sshd dropped $((all_drops - jg_drops)) connection(s) past MaxStartups"
