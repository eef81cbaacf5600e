#!/usr/bin/env bash
# launch/quickstart.sh and the README's "Installing" block, run as a new user would, on
# the real Fashion-MNIST files (skipped, exit 77, without the Debian package
# dataset-fashion-mnist), in a scratch copy of launch/ and configs/ with a scratch HOME
# (the default prefix ~/.local lands there). To stay under a minute the quickstart gets
# --build-dir (the tree ctest built: no configure or build again), --steps 20 and
# --iw-samples 2, and the Installing block's configure-and-build line is shown, not run;
# its install, PATH and version lines run as written. Checked: every file the quickstart
# says it wrote (the README's list too), the PATH hint, a re-run that leaves the finished
# run alone, and `elbo --version` from ~/.local.
source "$ELBO_SRC/tests/e2e/lib.sh"
idx=/usr/share/datasets/fashion-mnist
for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
  [ -f $idx/$f ] || { echo "SKIP: no $idx/$f (Debian package dataset-fashion-mnist)"; exit 77; }
done
build=$(dirname "$ELBO_BIN")
[ -f "$build/cmake_install.cmake" ] || { echo "SKIP: $ELBO_BIN is not in a build tree (nothing to install)"; exit 77; }

mkdir root home
cp -r "$ELBO_SRC/launch" "$ELBO_SRC/configs" root/
export HOME=$PWD/home

note "launch/quickstart.sh --build-dir BUILD --steps 20 --iw-samples 2"
bash root/launch/quickstart.sh --build-dir "$build" --steps 20 --iw-samples 2 >quickstart.log 2>&1 ||
  { cat quickstart.log; fail "the quickstart failed"; }
cat quickstart.log
grep -q "^using the elbo built in $build$" quickstart.log || fail "the quickstart did not use --build-dir's elbo"
grep -q "^elbo [0-9.]* (git " quickstart.log || fail "no elbo --version line"
grep -q "^step 20/20 " quickstart.log || fail "no training progress to step 20"
grep -q "IW NLL" quickstart.log || fail "no evaluation result"
grep -q "replica on cpu .*(oneDNN, 1 thread)" quickstart.log && grep -q "MiB in 1 shard$" quickstart.log ||
  fail "no singular '1 thread' / 'in 1 shard'"

note "the files it says it wrote, and the README's list"
said=$(sed -n 's/^quickstart done: runs\/quickstart\/{\(.*\)}$/\1/p' quickstart.log)
[ -n "$said" ] || fail "no 'quickstart done' line"
readme=$(tr '\n' ' ' <"$ELBO_SRC/README.md" | sed -n 's/.*leaves its run in `runs\/quickstart\/`: \(.*\)\. Options:.*/\1/p')
[ -n "$readme" ] || fail "README.md does not say what the quickstart leaves"
for f in ${said//,/ }; do
  [ -e "root/runs/quickstart/$f" ] || { ls -R root/runs; fail "the quickstart says it wrote $f, which is missing"; }
  grep -q "\`$f\`" <<<"$readme" || fail "README.md does not list $f"
done
ls root/runs/quickstart/checkpoints/ckpt_000000020.h5 >/dev/null || fail "no final checkpoint"
grep -q '"iw_k": 2' root/runs/quickstart/eval.json || fail "eval.json is not the k = 2 evaluation"
grep -q '"images": 10000' root/runs/quickstart/eval.json || fail "eval.json is not over the 10 000 test images"
for set in train:60000 test:10000; do
  grep -q "^count: ${set#*:}$" root/data/fashion/${set%%:*}/manifest.yaml || fail "data/fashion/${set%%:*} is not the Fashion-MNIST set"
done
grep -q "^  export PATH=\"$HOME/.local/bin:\$PATH\"$" quickstart.log || fail "no PATH hint for ~/.local/bin"

note "re-running it leaves the finished run as it is"
before=$(cd root/runs/quickstart && sha256sum checkpoints/* samples.png metrics.jsonl)
bash root/launch/quickstart.sh --build-dir "$build" --steps 20 --iw-samples 2 >again.log 2>&1 ||
  { cat again.log; fail "the second quickstart failed"; }
grep -q "runs/quickstart is already complete at step 20" again.log || { cat again.log; fail "the re-run did not find the run complete"; }
! grep -q "^wrote data/fashion" again.log || fail "the re-run converted the data again"
[ "$(cd root/runs/quickstart && sha256sum checkpoints/* samples.png metrics.jsonl)" = "$before" ] || fail "the re-run changed the run"

note "the README's Installing block"
awk '/^## Installing/ {on = 1} on && /^```bash$/ {inside = 1; next} inside && /^```$/ {exit} inside' "$ELBO_SRC/README.md" >install.sh
cat install.sh
grep -q "^cmake -S \. -B build/release .*&& cmake --build build/release" install.sh || fail "Installing block: no build line"
[ "$(grep -c "^cmake --install build/release --prefix ~/.local\|^export PATH=\|^elbo --version" install.sh)" = 3 ] ||
  fail "Installing block: not the install, PATH and version lines this test expects"
# build/release is the tree ctest built; the configure-and-build line would build it again
# from this scratch copy (minutes), so a stand-in for cmake shows it instead of running it.
mkdir root/build && ln -s "$build" root/build/release
cat >shim.sh <<'SH'
cmake() {
  case $1 in
    -S | --build) echo "(not run here: cmake $*)" ;;
    *) command cmake "$@" ;;
  esac
}
SH
(cd root && bash -euo pipefail -c 'source ../shim.sh; source ../install.sh') >install.log 2>&1 ||
  { cat install.log; fail "the Installing block failed"; }
grep -v "^-- " install.log  # less cmake --install's file list
[ -x "$HOME/.local/bin/elbo" ] || fail "elbo not installed into ~/.local/bin"
grep -q "^elbo [0-9.]* (git " install.log || fail "the Installing block's elbo --version printed no version"
echo PASS
