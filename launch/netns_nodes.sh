#!/usr/bin/env bash
# Several "nodes" on one machine: N network namespaces joined by veth pairs to a bridge,
# optionally rate-limited (and delayed, where the kernel has netem), with Open MPI over TCP
# between them; runs COMMAND in the root namespace with the mpirun arguments in
# $ELBO_MPIRUN_ARGS, then removes everything it made (also on Ctrl-C or an error).
#
#   launch/netns_nodes.sh [--nodes 2] [--slots 2] [--rate RATE] [--delay TIME] [--subnet 10.77.0]
#                         [--prefix elbo] -- COMMAND [ARGS...]
#   launch/netns_nodes.sh --check      # can this machine do it? (namespaces, veth, bridge, tbf, netem)
#
# Node i is namespace <prefix>n<i> with address <subnet>.<i+1>/24 on interface eth0; the
# bridge <prefix>br holds <subnet>.254, where mpirun (in the root namespace) listens.
# mpirun reaches each node through a launch agent (plm_rsh_agent) that enters the node's
# namespace and a UTS namespace named after the node's address, so Open MPI sees N hosts:
# ranks of one node share memory, ranks of different nodes talk TCP over the veth links.
# --rate (tc units: 10gbit, 800mbit) shapes both directions of every node's link (tbf);
# --delay (1ms) adds latency each way and needs the kernel's netem qdisc.
# Example, the scaling sweep on 2 nodes over a 10 Gbit/s link (needs root):
#   launch/netns_nodes.sh --nodes 2 --rate 10gbit -- launch/scaling.sh --config c.yaml --ranks "2 4"
set -euo pipefail

NODES=2
SLOTS=2
RATE=""
DELAY=""
SUBNET=10.77.0
PREFIX=elbo
CHECK=0

usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
die() { echo "netns_nodes: $*" >&2; exit 1; }
need_value() { [[ $# -ge 2 ]] || die "$1 needs a value (see --help)"; }

while [[ $# -gt 0 ]]; do
  case $1 in
    --nodes) need_value "$@"; [[ $2 =~ ^[0-9]+$ && $2 -ge 1 && $2 -le 16 ]] || die "--nodes expects 1..16, got '$2'"; NODES=$2; shift 2 ;;
    --slots) need_value "$@"; [[ $2 =~ ^[0-9]+$ && $2 -ge 1 ]] || die "--slots expects a positive integer, got '$2'"; SLOTS=$2; shift 2 ;;
    --rate) need_value "$@"; [[ $2 =~ ^[0-9.]+[kmgt]?(bit|bps)$ ]] || die "--rate expects a tc rate such as 10gbit or 800mbit, got '$2'"; RATE=$2; shift 2 ;;
    --delay) need_value "$@"; [[ $2 =~ ^[0-9.]+(us|ms|s)$ ]] || die "--delay expects a time such as 500us or 1ms, got '$2'"; DELAY=$2; shift 2 ;;
    --subnet) need_value "$@"; [[ $2 =~ ^[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "--subnet expects three octets such as 10.77.0, got '$2'"; SUBNET=$2; shift 2 ;;
    --prefix) need_value "$@"; [[ $2 =~ ^[a-z][a-z0-9]{0,7}$ ]] || die "--prefix expects up to 8 lower-case letters or digits, got '$2'"; PREFIX=$2; shift 2 ;;
    --check) CHECK=1; shift ;;
    -h|--help) usage 0 ;;
    --) shift; break ;;
    *) echo "netns_nodes: unknown argument '$1' (the command goes after --)" >&2; usage 2 ;;
  esac
done
((CHECK)) || [[ $# -gt 0 ]] || die "no COMMAND after -- (see --help)"
[[ $(id -u) == 0 ]] || die "network namespaces need root (or CAP_NET_ADMIN and CAP_SYS_ADMIN)"
for tool in ip tc unshare; do command -v $tool >/dev/null || die "$tool is not installed (Debian: iproute2, util-linux)"; done

BRIDGE=${PREFIX}br
WORK=""
made_ns=()
made_links=()

cleanup() {
  set +e
  for ns in "${made_ns[@]}"; do
    # Processes this script started inside the namespace (orted, ranks) keep it alive.
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill "$pid" 2>/dev/null; done
  done
  ((${#made_ns[@]})) && sleep 0.2
  for ns in "${made_ns[@]}"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null
  done
  for link in "${made_links[@]}"; do ip link del "$link" 2>/dev/null; done
  [[ -n $WORK ]] && rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# run_or_die WHAT CMD...: CMD, or stop naming WHAT and the command's own error
run_or_die() {
  local what=$1 err
  shift
  err=$("$@" 2>&1) || die "$what failed: $* -> ${err:-exit $?}"
}

# The qdisc of one direction of a link: netem (delay, and the rate with it), or tbf (rate).
shape() {  # shape NS-OR-EMPTY DEV
  local exec=()
  [[ -n $1 ]] && exec=(ip netns exec "$1")
  if [[ -n $DELAY ]]; then
    run_or_die "netem on $2 (--delay needs the kernel's sch_netem)" "${exec[@]}" tc qdisc add dev "$2" root netem delay "$DELAY" ${RATE:+rate $RATE}
  elif [[ -n $RATE ]]; then
    run_or_die "tbf on $2 (--rate)" "${exec[@]}" tc qdisc add dev "$2" root tbf rate "$RATE" burst 256kb latency 100ms
  fi
}

if ((CHECK)); then
  # Each capability on throw-away objects; the trap removes them.
  probe() { local what=$1; shift; if out=$("$@" 2>&1); then echo "ok      $what"; else echo "missing $what: ${out:-exit status $?}"; fi; }
  probe "network namespace (ip netns add)" ip netns add "${PREFIX}chk" && made_ns+=("${PREFIX}chk")
  probe "veth pair (ip link add type veth)" ip link add "${PREFIX}chk0" type veth peer name "${PREFIX}chk1" && made_links+=("${PREFIX}chk0")
  probe "bridge (ip link add type bridge)" ip link add "${PREFIX}chkbr" type bridge && made_links+=("${PREFIX}chkbr")
  probe "UTS namespace (unshare --uts)" unshare --uts true
  probe "rate limit (tc qdisc tbf)" tc qdisc add dev "${PREFIX}chk0" root tbf rate 1gbit burst 256kb latency 100ms
  tc qdisc del dev "${PREFIX}chk0" root 2>/dev/null || true
  probe "delay (tc qdisc netem)" tc qdisc add dev "${PREFIX}chk0" root netem delay 1ms
  exit 0
fi

# ---- the nodes ----
ip link show "$BRIDGE" >/dev/null 2>&1 && die "$BRIDGE exists already (another netns_nodes.sh running, or a leftover: ip link del $BRIDGE)"
for ((i = 0; i < NODES; ++i)); do
  ip netns list | grep -qw "${PREFIX}n$i" && die "namespace ${PREFIX}n$i exists already (a leftover? ip netns del ${PREFIX}n$i)"
done
WORK=$(mktemp -d /tmp/netns_nodes.XXXXXX)
run_or_die "the bridge" ip link add "$BRIDGE" type bridge
made_links+=("$BRIDGE")
run_or_die "the bridge's address" ip addr add "$SUBNET.254/24" dev "$BRIDGE"
run_or_die "bridge up" ip link set "$BRIDGE" up
: >"$WORK/hostfile"
for ((i = 0; i < NODES; ++i)); do
  ns=${PREFIX}n$i host=$SUBNET.$((i + 1))
  run_or_die "namespace $ns" ip netns add "$ns"
  made_ns+=("$ns")
  run_or_die "veth of $ns" ip link add "${PREFIX}v$i" type veth peer name "${PREFIX}p$i"
  made_links+=("${PREFIX}v$i")
  run_or_die "moving the veth into $ns" ip link set "${PREFIX}p$i" netns "$ns"
  run_or_die "naming eth0 in $ns" ip netns exec "$ns" ip link set "${PREFIX}p$i" name eth0
  run_or_die "address of $ns" ip netns exec "$ns" ip addr add "$host/24" dev eth0
  run_or_die "links of $ns up" ip netns exec "$ns" sh -c "ip link set lo up && ip link set eth0 up"
  run_or_die "veth to the bridge" ip link set "${PREFIX}v$i" master "$BRIDGE"
  run_or_die "veth up" ip link set "${PREFIX}v$i" up
  shape "$ns" eth0            # from the node
  shape "" "${PREFIX}v$i"     # to the node
  echo "$host slots=$SLOTS" >>"$WORK/hostfile"
  echo "$host $ns" >>"$WORK/nodes"
done

# The launch agent: mpirun calls it as `agent [options] HOST COMMAND...` (as it would ssh);
# it runs COMMAND (a shell command line) inside HOST's namespace, with HOST as hostname.
cat >"$WORK/agent" <<EOF
#!/bin/sh
while [ "\${1#-}" != "\$1" ]; do shift; done
host=\$1; shift
ns=\$(awk -v h="\$host" '\$1 == h {print \$2}' "$WORK/nodes")
[ -n "\$ns" ] || { echo "netns_nodes agent: unknown host \$host" >&2; exit 1; }
exec ip netns exec "\$ns" unshare --uts sh -c "hostname \$host && exec \$*"
EOF
chmod +x "$WORK/agent"

# Ranks go round-robin over the nodes (--map-by node); unbound, since each node's
# Open MPI would otherwise bind its first rank to core 0, all nodes' ranks on one core.
export ELBO_MPIRUN_ARGS="--hostfile $WORK/hostfile --map-by node --bind-to none --mca plm_rsh_agent $WORK/agent \
--mca oob_tcp_if_include $SUBNET.0/24 --mca btl_tcp_if_include $SUBNET.0/24 --mca btl tcp,vader,self"
echo "netns_nodes: $NODES node(s) ($(cut -d' ' -f1 "$WORK/nodes" | tr '\n' ' '| sed 's/ $//'), $SLOTS slot(s) each)," \
  "link ${RATE:-unlimited}${DELAY:+, delay $DELAY each way}; running: $*"
set +e
"$@"
rc=$?
set -e
exit $rc
