#!/usr/bin/env bash
# launch/netns_nodes.sh: two namespace nodes are two hosts to Open MPI (one rank on each
# reduces over plain MPI, without the node shared memory that ranks of one host use), a
# rate limit slows the all-reduce, the command's exit code comes back, and nothing (no
# namespace, link or temporary folder) is left behind, also when the command fails.
# --delay without the kernel's netem stops with the tc error. Skips (77) where network
# namespaces cannot be made (not root, or a container without CAP_NET_ADMIN).
source "$ELBO_SRC/tests/e2e/lib.sh"
NODES="$ELBO_SRC/launch/netns_nodes.sh"
BENCH=$(dirname "$ELBO_BIN")/elbo_allreduce_bench
[ -x "$BENCH" ] || { echo "SKIP: no $BENCH (configure with -DELBO_BENCH=ON)"; exit 77; }
# A prefix and subnet of its own, so that a user's netns_nodes.sh run does not collide.
OPTS=(--prefix elbot --subnet 10.78.9)
bash "$NODES" --check "${OPTS[@]}" >check.txt 2>&1 || true
cat check.txt
for need in "network namespace" "veth pair" "bridge" "UTS namespace" "rate limit"; do
  grep -q "^ok      $need" check.txt || { echo "SKIP: $need: $(grep "$need" check.txt)"; exit 77; }
done

leftovers() {  # what the script could have left behind
  { ip netns list | grep -w "elbot[a-z0-9]*" || true; ip -o link | grep -oE "elbot[a-z0-9]+" || true
    ls -d /tmp/netns_nodes.* 2>/dev/null | grep -vxF -f before_tmp || true; }
}
ls -d /tmp/netns_nodes.* 2>/dev/null >before_tmp || true
[ -z "$(leftovers)" ] || fail "leftovers before the test: $(leftovers)"

# The all-reduce benchmark across the nodes on N ranks (sizes 64 KiB to 1 MiB), as the
# command line netns_nodes.sh runs (ELBO_MPIRUN_ARGS is its own, set when it runs).
bench() { echo "mpirun -np $1 \$ELBO_MPIRUN_ARGS $BENCH --min-bytes 65536 --max-bytes 1048576 --iters 5"; }

note "2 nodes, one rank on each: plain MPI over TCP"
bash "$NODES" "${OPTS[@]}" --nodes 2 -- bash -c "$(bench 2)" >two.txt 2>&1 || { cat two.txt; fail "2 nodes"; }
cat two.txt
grep -q "data plane mpi$" two.txt || fail "one rank per namespace node should reduce over plain MPI"
grep -q "10.78.9.1 10.78.9.2, 2 slot(s) each" two.txt || fail "no nodes line"
[ -z "$(leftovers)" ] || fail "left behind: $(leftovers)"

note "4 ranks on 2 nodes: shared memory within a node, TCP across"
bash "$NODES" "${OPTS[@]}" --nodes 2 -- bash -c "$(bench 4)" >four.txt 2>&1 || { cat four.txt; fail "4 ranks"; }
grep -q "data plane mpi + node shared memory" four.txt || { cat four.txt; fail "two ranks per node should share memory"; }

note "a 100 Mbit/s link is slower than an unlimited one"
bash "$NODES" "${OPTS[@]}" --nodes 2 --rate 100mbit -- bash -c "$(bench 2)" >slow.txt 2>&1 || { cat slow.txt; fail "rate"; }
fast_us=$(awk '$1 == 1048576 {print $3}' two.txt)
slow_us=$(awk '$1 == 1048576 {print $3}' slow.txt)
# 1 MiB over 100 Mbit/s takes at least 84 ms (a physical bound the limit must enforce); the
# veth link without a limit takes milliseconds on an idle machine, but tens of ms when the
# cores are busy, so only "slower than unlimited" is asked of that comparison.
"$PY" -c "import sys; f, s = float(sys.argv[1]), float(sys.argv[2]); sys.exit(0 if s > 75000 and s > f else 1)" "$fast_us" "$slow_us" ||
  fail "1 MiB all-reduce: $slow_us us at 100 Mbit/s against $fast_us us unlimited"
echo "ok  1 MiB: $fast_us us unlimited, $slow_us us at 100 Mbit/s"

note "the command's exit code, and the cleanup after a failure"
set +e
bash "$NODES" "${OPTS[@]}" --nodes 3 -- bash -c 'ip netns list | grep -c elbot >count; exit 3' >fail.txt 2>&1
rc=$?
set -e
[ $rc = 3 ] || { cat fail.txt; fail "exit code $rc, not the command's 3"; }
[ "$(cat count)" = 3 ] || fail "3 nodes asked, $(cat count) namespaces made"
[ -z "$(leftovers)" ] || fail "left behind after a failing command: $(leftovers)"

note "bad arguments, and --delay"
set +e
bash "$NODES" "${OPTS[@]}" --nodes 0 -- true >bad.txt 2>&1; rc1=$?
bash "$NODES" "${OPTS[@]}" --rate fast -- true >>bad.txt 2>&1; rc2=$?
bash "$NODES" "${OPTS[@]}" >>bad.txt 2>&1; rc3=$?
bash "$NODES" "${OPTS[@]}" --nodes 2 --delay 1ms -- true >delay.txt 2>&1; rc4=$?
set -e
cat bad.txt delay.txt
[ $rc1 = 1 ] && grep -q -- "--nodes expects 1..16, got '0'" bad.txt || fail "--nodes 0"
[ $rc2 = 1 ] && grep -q -- "--rate expects a tc rate" bad.txt || fail "--rate fast"
[ $rc3 = 1 ] && grep -q "no COMMAND after --" bad.txt || fail "no command"
if grep -q "^ok      delay" check.txt; then
  [ $rc4 = 0 ] || fail "--delay failed although netem exists"
else
  [ $rc4 = 1 ] && grep -q "netem on .* failed: .*Specified qdisc kind is unknown" delay.txt || fail "--delay without netem: exit $rc4"
fi
[ -z "$(leftovers)" ] || fail "left behind: $(leftovers)"
echo PASS
