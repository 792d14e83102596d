#!/usr/bin/env bash
# A single-node Slurm cluster on this machine (Debian's slurm-wlm + munge; setup.sh installs
# them), for running sweeps as `sbatch --array` exactly as on a real cluster.
#   scripts/slurm-cluster.sh up      start munged, slurmctld and slurmd (idempotent); waits until
#                                    the node is idle, or fails saying why
#   scripts/slurm-cluster.sh down    stop the daemons
#   scripts/slurm-cluster.sh status  sinfo
# The configuration is written to /etc/slurm/slurm.conf only if that file is absent or was
# written by this script (first line below): an existing cluster's configuration is never touched.
set -euo pipefail

CONF=/etc/slurm/slurm.conf
MARK="# unibit single-node test cluster (scripts/slurm-cluster.sh)"
LOGDIR=/var/log/slurm
die() { printf 'slurm-cluster: %s\n' "$*" >&2; exit 1; }
need() { command -v "$1" >/dev/null || die "$1 not found: install slurm-wlm and munge (scripts/setup.sh does)"; }

write_conf() {
  if [ -f "$CONF" ] && [ "$(head -1 "$CONF")" != "$MARK" ]; then
    die "$CONF exists and was not written by this script: refusing to replace it"
  fi
  local host node
  host=$(hostname -s)
  # slurmd -C prints this node's real shape; keep CPUs, sockets, cores, threads and memory.
  node=$(slurmd -C | head -1 | tr ' ' '\n' | grep -E '^(NodeName|CPUs|Boards|SocketsPerBoard|CoresPerSocket|ThreadsPerCore|RealMemory)=' | tr '\n' ' ')
  mkdir -p /etc/slurm
  cat > "$CONF.tmp" <<EOC
$MARK
ClusterName=unibit
SlurmctldHost=$host
SlurmUser=slurm
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOGDIR/slurmctld.log
SlurmdLogFile=$LOGDIR/slurmd.log
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
KillWait=5
$node State=UNKNOWN
PartitionName=unibit Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOC
  mv "$CONF.tmp" "$CONF"
}

running() { pgrep -x "$1" >/dev/null; }

up() {
  need munged; need slurmctld; need slurmd; need sinfo
  [ "$(id -u)" -eq 0 ] || die "must run as root (starts system daemons)"
  write_conf
  mkdir -p /run/munge /var/lib/slurm/slurmctld /var/lib/slurm/slurmd "$LOGDIR"
  chown munge:munge /run/munge; chmod 0755 /run/munge
  chown slurm:slurm /var/lib/slurm/slurmctld "$LOGDIR"
  [ -s /etc/munge/munge.key ] || { mungekey --create --force >/dev/null 2>&1 || die "no munge key and mungekey failed"; chown munge:munge /etc/munge/munge.key; }
  running munged || runuser -u munge -- /usr/sbin/munged || die "munged did not start (see /var/log/munge/munged.log)"
  running slurmctld || slurmctld || die "slurmctld did not start (see $LOGDIR/slurmctld.log)"
  running slurmd || slurmd || die "slurmd did not start (see $LOGDIR/slurmd.log)"
  local state=""
  for _ in $(seq 1 60); do
    state=$(sinfo -h -o %t 2>/dev/null | head -1 || true)
    case "$state" in
      idle|mix|alloc) echo "slurm-cluster: up (node $(hostname -s), state $state)"; return 0 ;;
      down*|drain*) scontrol update nodename="$(hostname -s)" state=resume >/dev/null 2>&1 || true ;;
    esac
    sleep 1
  done
  die "node not idle after 60 s (state '${state:-none}'); see $LOGDIR/slurmctld.log and $LOGDIR/slurmd.log"
}

down() {
  for d in slurmd slurmctld; do pkill -x "$d" 2>/dev/null || true; done
  echo "slurm-cluster: down"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) sinfo ;;
  *) die "usage: $0 up|down|status" ;;
esac
