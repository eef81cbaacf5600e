# shellcheck shell=bash
# A real Slurm cluster on this host for the Slurm end-to-end tests: a private munged,
# slurmctld and several slurmd (one per NodeName, distinct ports, `slurmd -N`), configured
# in a temporary directory, so jobs go through the real sbatch, srun, scancel and
# scontrol. Sourced by tests/e2e/test_slurm_*.sh after lib.sh (which cds to the scratch dir).
#
# All nodes are this host: a job that spans nodes runs one task per node (two nodes' local
# ranks would share Open MPI's shared-memory file names here and collide).
#
#   slurm_start [NODES [CPUS]]  start the cluster (default 2 nodes of 2 CPUs); exports
#                               SLURM_CONF; an EXIT trap cancels every job, stops every
#                               daemon and removes the state. Exits 77 (ctest SKIP) with a
#                               message when Slurm is not installed or cannot start here.
#   slurm_wait_state JOB STATES SECONDS   wait until the job's state is one of STATES (a|b)
#   slurm_job_field JOB FIELD             a field of `scontrol show job` (e.g. RestartCnt)
#   slurm_wait_file PATH SECONDS          wait for a file to exist and be non-empty
SLURM_DIR=""
_slurm_pids=()

slurm_skip() {
  echo "SKIP: $* (the Slurm tests need slurm-wlm and munge: install_deps slurm, launch/lib/install_deps.sh)"
  exit 77
}

# Every process started for a cluster carries SLURM_CONF=<its dir>/slurm.conf in its
# environment (the daemons, slurmstepd, the job's shells and tasks): those are the ones
# to end, by pid, whatever is left after the jobs were cancelled.
_slurm_pids_of() {
  local f pid
  for f in /proc/[0-9]*/environ; do
    pid=${f#/proc/}
    pid=${pid%/environ}
    [ "$pid" != $$ ] || continue
    { tr '\0' '\n' <"$f"; } 2>/dev/null | grep -qxF "SLURM_CONF=$1/slurm.conf" && echo "$pid"
  done
  return 0
}

# A test killed outright (SIGKILL: its exit trap never ran) leaves its cluster behind:
# clusters whose test ($dir/owner) is gone are ended here, by pid, and removed.
_slurm_reap_orphans() {
  local dir owner p
  for dir in /tmp/elbo-slurm.*; do
    [ -f "$dir/owner" ] || continue
    owner=$(cat "$dir/owner" 2>/dev/null || true)
    [ -n "$owner" ] && kill -0 "$owner" 2>/dev/null && continue
    for p in $(_slurm_pids_of "$dir"); do kill -KILL "$p" 2>/dev/null || true; done
    rm -rf "$dir"
  done
}

slurm_stop() {
  [ -n "$SLURM_DIR" ] && [ -d "$SLURM_DIR" ] || return 0
  local i left
  if [ -n "${SLURM_CONF:-}" ] && scontrol ping >/dev/null 2>&1; then
    scancel --quiet --full --signal=KILL --state=RUNNING --user="$(id -un)" 2>/dev/null || true
    scancel --quiet --user="$(id -un)" 2>/dev/null || true
    for i in $(seq 1 100); do
      [ -z "$(squeue -h -o %i 2>/dev/null)" ] && break
      sleep 0.2
    done
  fi
  # Daemons first (they would restart nothing: no systemd here), then anything left.
  for i in "${_slurm_pids[@]}"; do kill -TERM "$i" 2>/dev/null || true; done
  for i in $(seq 1 50); do
    left=0
    for p in "${_slurm_pids[@]}"; do kill -0 "$p" 2>/dev/null && left=1; done
    [ $left -eq 0 ] && break
    sleep 0.1
  done
  for p in "${_slurm_pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  for p in $(_slurm_pids_of "$SLURM_DIR"); do kill -KILL "$p" 2>/dev/null || true; done
  if [ -n "${SLURM_KEEP_LOGS:-}" ]; then
    mkdir -p "$SLURM_KEEP_LOGS" && cp "$SLURM_DIR"/*.log "$SLURM_KEEP_LOGS"/ 2>/dev/null || true
  fi
  rm -rf "$SLURM_DIR"
  SLURM_DIR=""
}

_slurm_free_ports() {
  "$PY" - "$1" <<'PY'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
PY
}

_slurm_dump_logs() {
  local f
  for f in "$SLURM_DIR"/*.log; do
    echo "----- $f (last lines)"
    tail -15 "$f"
  done
}

slurm_start() {
  local nodes=${1:-2} cpus=${2:-2} i
  for b in slurmctld slurmd munged sbatch srun scontrol scancel squeue sinfo; do
    command -v "$b" >/dev/null || slurm_skip "$b is not installed"
  done
  ls /usr/lib/*/slurm-wlm/mpi_pmix*.so >/dev/null 2>&1 || slurm_skip "Slurm has no PMIx plugin (mpi_pmix.so)"
  _slurm_reap_orphans
  SLURM_DIR=$(mktemp -d /tmp/elbo-slurm.XXXXXX)
  echo $$ >"$SLURM_DIR/owner"
  export SLURM_CONF=$SLURM_DIR/slurm.conf  # before any daemon starts: it marks their processes
  trap slurm_stop EXIT
  trap 'exit 130' INT TERM
  chmod 755 "$SLURM_DIR"  # munged wants its socket directory searchable by all
  mkdir -p "$SLURM_DIR"/{state,spool,tmp}
  local host
  host=$(hostname -s)

  # munge: a key of our own, a socket of our own (Slurm reaches it through AuthInfo)
  head -c 1024 /dev/urandom >"$SLURM_DIR/munge.key"
  chmod 600 "$SLURM_DIR/munge.key"
  # The daemons run in the foreground, as children of the test: if ctest kills the test's
  # process tree, they go with it.
  munged --foreground --force --socket="$SLURM_DIR/munge.sock" --key-file="$SLURM_DIR/munge.key" \
    --pid-file="$SLURM_DIR/munged.pid" --log-file="$SLURM_DIR/munged.log" --seed-file="$SLURM_DIR/munged.seed" \
    >>"$SLURM_DIR/munged.log" 2>&1 &
  _slurm_pids+=($!)
  for i in $(seq 1 50); do [ -S "$SLURM_DIR/munge.sock" ] && break; sleep 0.1; done
  [ -S "$SLURM_DIR/munge.sock" ] || { _slurm_dump_logs; slurm_skip "munged did not start"; }

  local ports
  read -r -a ports <<<"$(_slurm_free_ports $((nodes + 1)))"
  cat >"$SLURM_DIR/slurm.conf" <<CONF
ClusterName=elbotest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=${ports[0]}
SlurmUser=$(id -un)
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$SLURM_DIR/munge.sock,cred_expire=5
StateSaveLocation=$SLURM_DIR/state
SlurmdSpoolDir=$SLURM_DIR/spool/%n
TmpFS=$SLURM_DIR/tmp/%n
SlurmctldPidFile=$SLURM_DIR/slurmctld.pid
SlurmdPidFile=$SLURM_DIR/slurmd.%n.pid
SlurmctldLogFile=$SLURM_DIR/slurmctld.log
SlurmdLogFile=$SLURM_DIR/slurmd.%n.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SwitchType=switch/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1,sched_min_interval=100000,bf_interval=1
SlurmdParameters=config_overrides
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=60
MessageTimeout=10
KillWait=30
MinJobAge=600
InactiveLimit=0
JobRequeue=1
# Pre-emption: a job in partition "urgent" requeues the jobs of "test" it needs room from;
# their tasks get SIGTERM at once and SIGKILL GraceTime seconds later.
PreemptType=preempt/partition_prio
PreemptMode=REQUEUE
# Two stand-in GPUs per node (/dev/null and /dev/zero as their device files): enough for
# --gpus-per-node to be scheduled; nothing uses them.
GresTypes=gpu
CONF
  echo "AutoDetect=off" >"$SLURM_DIR/gres.conf"
  for i in $(seq 1 "$nodes"); do
    echo "NodeName=n$i NodeHostname=$host NodeAddr=127.0.0.1 Port=${ports[$i]} CPUs=$cpus RealMemory=1000 Gres=gpu:2 State=UNKNOWN" \
      >>"$SLURM_DIR/slurm.conf"
    printf 'NodeName=n%s Name=gpu File=%s\n' "$i" /dev/null "$i" /dev/zero >>"$SLURM_DIR/gres.conf"
  done
  cat >>"$SLURM_DIR/slurm.conf" <<CONF
PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP PriorityTier=1 GraceTime=30
PartitionName=urgent Nodes=ALL MaxTime=INFINITE State=UP PriorityTier=2 PreemptMode=OFF
CONF

  slurmctld -D -i -f "$SLURM_CONF" >>"$SLURM_DIR/slurmctld.log" 2>&1 &
  _slurm_pids+=($!)
  for i in $(seq 1 "$nodes"); do
    mkdir -p "$SLURM_DIR/spool/n$i" "$SLURM_DIR/tmp/n$i"
    slurmd -D -N "n$i" -f "$SLURM_CONF" >>"$SLURM_DIR/slurmd.n$i.log" 2>&1 &
    _slurm_pids+=($!)
  done
  # Every node idle within 30 s, or Slurm cannot run here.
  local idle=0
  local dead=""
  for i in $(seq 1 150); do
    idle=$(sinfo -h -N -p test -o '%N %T' 2>/dev/null | grep -c ' idle$' || true)
    [ "$idle" -ge "$nodes" ] && break
    for p in "${_slurm_pids[@]}"; do kill -0 "$p" 2>/dev/null || dead="a daemon exited; "; done
    [ -z "$dead" ] || break
    sleep 0.2
  done
  if [ "$idle" -lt "$nodes" ]; then
    echo "${dead}Slurm did not come up; its logs:"
    sinfo -N -l 2>&1 || true
    _slurm_dump_logs
    slurm_skip "only $idle of $nodes Slurm nodes came up"
  fi
  echo "--- Slurm $(sinfo -V | cut -d' ' -f2): $nodes node(s) of $cpus CPUs on $host, SLURM_CONF=$SLURM_CONF"
}

# slurm_job_field JOB FIELD: e.g. JobState, RestartCnt, ExitCode
slurm_job_field() {
  scontrol show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -1
}

# slurm_wait_state JOB 'A|B' SECONDS: waits until the job is in one of the states
slurm_wait_state() {
  local job=$1 want=$2 secs=$3 i st=""
  for i in $(seq 1 $((secs * 5))); do
    st=$(slurm_job_field "$job" JobState)
    [[ "$st" =~ ^($want)$ ]] && return 0
    sleep 0.2
  done
  echo "job $job: state ${st:-unknown} after ${secs}s, expected $want" >&2
  scontrol show job "$job" >&2 || true
  return 1
}

slurm_wait_file() {
  local path=$1 secs=$2 i
  for i in $(seq 1 $((secs * 10))); do
    [ -s "$path" ] && return 0
    sleep 0.1
  done
  echo "no $path after ${secs}s" >&2
  return 1
}

# slurm_wait_text FILE REGEX SECS: a job's state changes (scancel makes it CANCELLED at once) before
# its batch shell has finished; wait until the shell has printed REGEX into FILE.
slurm_wait_text() {
  local path=$1 regex=$2 secs=$3 i
  for i in $(seq 1 $((secs * 10))); do
    grep -qE "$regex" "$path" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "no line matching '$regex' in $path after ${secs}s" >&2
  return 1
}
