#!/usr/bin/env bash
# Every command and subcommand answers -h/--help on stdout with exit 0: a usage line, a
# description line for every flag the usage names, and an example. `elbo --version`,
# `-V` and `elbo version` name the version, the git commit of the source tree and the
# backends. Usage mistakes exit 2 and point at --help; `elbo train` without CONFIG
# points at the example configs.
source "$ELBO_SRC/tests/e2e/lib.sh"

commands=$("$ELBO_BIN" --help | awk '/^  [a-z]/ && $1 != "elbo" {print $1}')
[ "$(echo $commands)" = "train eval sample reconstruct interpolate encode score plot scaling-plot data config devices version" ] ||
  fail "elbo --help lists: $(echo $commands)"

# check_help NAME ARGS...: NAME's help (from ARGS) is complete
check_help() {
  local name=$1
  shift
  "$ELBO_BIN" "$@" >help.out 2>help.err || { cat help.out help.err; fail "$name: exit $?"; }
  [ ! -s help.err ] || { cat help.err; fail "$name: help went to stderr"; }
  grep -q "^usage: elbo $name" help.out || { cat help.out; fail "$name: no usage line"; }
  grep -q "^example" help.out || { cat help.out; fail "$name: no example"; }
  # Every --flag of the usage lines has its own description line ("  --flag ...").
  for flag in $(sed -n '/^usage:/,/^$/p' help.out | grep -oE -- '--[a-z-]+' | sort -u); do
    grep -qE -- "^  (-[a-zA-Z], )?$flag\b" help.out || { cat help.out; fail "$name: $flag is not described"; }
  done
  echo "ok  $name $*"
}
for c in $commands; do
  case $c in
    data) check_help "data convert" data convert --help; check_help "data inspect" data inspect -h
          check_help "data" data --help ;;
    config) check_help "config template" config template --help; check_help "config check" config check -h
            check_help "config" config --help ;;
    *) check_help "$c" "$c" --help; check_help "$c" "$c" -h ;;
  esac
done
"$ELBO_BIN" help eval | grep -q "^usage: elbo eval" || fail "elbo help eval"

note "version"
for v in --version -V version; do
  "$ELBO_BIN" $v >version.out || fail "elbo $v: exit $?"
  grep -Eq "^elbo [0-9]+\.[0-9]+\.[0-9]+ \(git [^ ]+, [A-Za-z]+ build\)" version.out || { cat version.out; fail "elbo $v: first line"; }
  grep -Eq "^backends +cpu \(.+\); cuda (compiled in|not compiled in)" version.out || { cat version.out; fail "elbo $v: backends"; }
  grep -Eq "^collectives +mpi" version.out || { cat version.out; fail "elbo $v: collectives"; }
done
if head=$(git -C "$ELBO_SRC" rev-parse --short=12 HEAD 2>/dev/null); then
  grep -q "git $head" version.out || { cat version.out; fail "the commit is not HEAD ($head)"; }
fi
cat version.out

note "usage mistakes"
set +e
"$ELBO_BIN" train >train.out 2>train.err; rc=$?
set -e
[ $rc = 2 ] || fail "elbo train without CONFIG: exit $rc"
grep -q "missing CONFIG" train.err && grep -q "configs" train.err && grep -q "elbo config template" train.err ||
  { cat train.err; fail "elbo train without CONFIG does not point at configs/"; }
for args in "eval --bogus x" "sample a.yaml b.yaml" "score --bogus x" "interpolate --checkpoint c.h5 --steps 1 --out a.png" "data convert --images" "plot" "scaling-plot" "scaling-plot a b" "config nothing" "config template bogus" "devices extra" "frobnicate"; do
  set +e
  "$ELBO_BIN" $args >bad.out 2>bad.err; rc=$?
  set -e
  [ $rc = 2 ] || { cat bad.err; fail "elbo $args: exit $rc, not 2"; }
  grep -qE "elbo .*--help|^usage: elbo" bad.err || { cat bad.err; fail "elbo $args: no pointer to --help"; }
  echo "ok  elbo $args: $(head -1 bad.err)"
done
# elbo devices names the CPU's cores, oneDNN's version and the instruction set it runs here
# (the ISA one of oneDNN's x86 names), and whether CUDA is compiled in
"$ELBO_BIN" devices >devices.out 2>&1 || { cat devices.out; fail "elbo devices"; }
grep -Eq "^cpu +[0-9]+ cores .*oneDNN [0-9]+\.[0-9]+\.[0-9]+ .*ISA (avx512_core_amx|avx512_core_bf16|avx512_core_vnni|avx512_core|avx512_mic_4ops|avx512_mic|avx2_vnni|avx2|avx|sse41|generic \(no JIT code\))$" devices.out ||
  { cat devices.out; fail "elbo devices: no cpu line with the cores, oneDNN's version and its ISA"; }
grep -Eq "^cuda " devices.out || { cat devices.out; fail "elbo devices: no cuda line"; }
echo PASS
