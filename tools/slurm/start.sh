#!/usr/bin/env bash
# Starts a single-node Slurm cluster on localhost for the tests, as root, without systemd:
# munged (unless one already answers), slurmctld and slurmd, each in the background with
# its pid in a file. Everything else lives in the directory given (made if missing):
# slurm.conf, the daemons' state, spool and logs. Returns once the node is idle.
#
#   tools/slurm/start.sh /tmp/jobgraph-slurm && export SLURM_CONF=/tmp/jobgraph-slurm/slurm.conf
#   ... sinfo, sbatch, cargo test ...
#   tools/slurm/stop.sh /tmp/jobgraph-slurm
#
# The client tools read $SLURM_CONF (without it, /etc/slurm/slurm.conf, left untouched).
# STARTUP_TIMEOUT (seconds, default 120) bounds the wait for the node.
set -euo pipefail

if [ $# -ne 1 ]; then
    echo "usage: $0 STATE_DIR" >&2
    exit 2
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "$0: must run as root (the daemons run as root, munged as munge)" >&2
    exit 1
fi
for program in munged slurmctld slurmd sinfo scontrol; do
    if ! command -v "$program" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$program" ]; then
        echo "$0: $program is missing (apt-get install slurm-wlm munge)" >&2
        exit 1
    fi
done
export PATH="$PATH:/usr/sbin"
mkdir -p "$1"
dir=$(cd "$1" && pwd)
# Readable by all: munged (as munge) works inside, and users' client tools read slurm.conf.
chmod 0755 "$dir"
export SLURM_CONF="$dir/slurm.conf"
deadline=$((SECONDS + ${STARTUP_TIMEOUT:-120}))

# munge: the key, then the daemon, as the munge user (munged refuses a key it does not own).
if [ ! -s /etc/munge/munge.key ]; then
    mkdir -p /etc/munge
    if command -v mungekey >/dev/null 2>&1; then
        mungekey --create --keyfile=/etc/munge/munge.key
    else
        dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
    fi
    chown munge:munge /etc/munge /etc/munge/munge.key
    chmod 0700 /etc/munge
    chmod 0400 /etc/munge/munge.key
fi
if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    echo "munged: already running, used as is"
else
    install -d -o munge -g munge -m 0755 /run/munge
    install -d -o munge -g munge -m 0700 "$dir/munge" /var/lib/munge
    setpriv --reuid=munge --regid=munge --init-groups \
        munged --foreground --log-file="$dir/munge/munged.log" \
        --pid-file="$dir/munge/munged.pid" </dev/null >/dev/null 2>&1 &
    echo $! >"$dir/munged.pid"
    until munge -n 2>/dev/null | unmunge >/dev/null 2>&1; do
        if ! kill -0 "$(cat "$dir/munged.pid")" 2>/dev/null || [ $SECONDS -ge $deadline ]; then
            echo "$0: munged did not start; its log:" >&2
            cat "$dir/munge/munged.log" >&2 || true
            exit 1
        fi
        sleep 0.1
    done
fi

mkdir -p "$dir/state" "$dir/spool"
# Memory declared, so that --mem requests can be met (config_overrides skips the
# check of CPUs and memory against the machine's).
mem_mb=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)
cat >"$SLURM_CONF" <<CONF
ClusterName=jobgraph
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0,bf_interval=1
DependencyParameters=kill_invalid_depend
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=30
KillWait=2
InactiveLimit=0
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
NodeName=localhost NodeAddr=127.0.0.1 CPUs=16 RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
CONF

# -i: ignore state left by an earlier cluster in this directory (its jobs are gone).
slurmctld -D -i -f "$SLURM_CONF" </dev/null >"$dir/slurmctld.out" 2>&1 &
echo $! >"$dir/slurmctld.pid"
slurmd -D -N localhost -f "$SLURM_CONF" </dev/null >"$dir/slurmd.out" 2>&1 &
echo $! >"$dir/slurmd.pid"

# Ready when the node is idle: polled, with the deadline above.
until [ "$(sinfo --noheader --nodes=localhost --format=%t 2>/dev/null)" = "idle" ]; do
    for daemon in slurmctld slurmd; do
        if ! kill -0 "$(cat "$dir/$daemon.pid")" 2>/dev/null; then
            echo "$0: $daemon exited; the end of its log:" >&2
            tail -n 20 "$dir/$daemon.log" "$dir/$daemon.out" >&2 2>/dev/null || true
            exit 1
        fi
    done
    if [ $SECONDS -ge $deadline ]; then
        echo "$0: the node is not idle after ${STARTUP_TIMEOUT:-120} s:" >&2
        sinfo >&2 || true
        tail -n 20 "$dir/slurmctld.log" "$dir/slurmd.log" >&2 2>/dev/null || true
        exit 1
    fi
    sleep 0.2
done
echo "slurm: node localhost idle, SLURM_CONF=$SLURM_CONF"
