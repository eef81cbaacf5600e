#!/usr/bin/env bash
# Path mistakes get one clear message, not an internal error: a folder given where a
# file is expected names both and suggests the file meant (the folder's manifest.yaml,
# the newest checkpoint of a run folder or of its checkpoints/); a missing relative path
# names the current directory it was resolved against. On 2 ranks the message is printed once.
source "$ELBO_SRC/tests/e2e/lib.sh"
make_dataset data 300 8 8 3 2
write_config c.yaml run data/manifest.yaml data/manifest.yaml
elbo_np 1 train c.yaml --set train.steps=10 --set train.sample_grid=0 >train.log 2>&1 || { cat train.log; fail "train"; }
here=$(pwd -P)

# expect NAME NP PATTERN ARGS...: exit != 0 and stderr matching PATTERN exactly once
expect() {
  local name=$1 np=$2 pattern=$3
  shift 3
  set +e
  if [ "$np" = 0 ]; then "$ELBO_BIN" "$@" >"$name.out" 2>"$name.err"; else elbo_np "$np" "$@" >"$name.out" 2>"$name.err"; fi
  local rc=$?
  set -e
  [ $rc -ne 0 ] || { cat "$name.out" "$name.err"; fail "$name: exit 0"; }
  ! grep -q "internal error" "$name.err" || { cat "$name.err"; fail "$name: internal error"; }
  [ "$(grep -Ec -- "$pattern" "$name.err")" = 1 ] || { cat "$name.err"; fail "$name: /$pattern/ not exactly once"; }
  echo "ok  $name: $(grep -E -- "$pattern" "$name.err")"
}
folder="is a folder, but a file is expected here"
expect train-folder 2 "data\.train: data $folder; did you mean data/manifest\.yaml\? \(relative to the current directory $here\)" \
  train c.yaml --set data.train=data
expect test-folder 1 "data\.test: data/ $folder; did you mean data/manifest\.yaml\?" train c.yaml --set data.test=data/
expect eval-test-folder 1 "data\.test: data $folder" eval c.yaml --set data.test=data
mkdir cfgs && cp c.yaml cfgs/
expect config-folder 1 "CONFIG: cfgs $folder; did you mean cfgs/c\.yaml\?" train cfgs
expect checkpoint-folder 0 "--checkpoint: run $folder; did you mean run/checkpoints/ckpt_000000010\.h5\?" sample --checkpoint run
expect checkpoints-folder 0 "--checkpoint: run/checkpoints $folder; did you mean run/checkpoints/ckpt_000000010\.h5\?" \
  eval --checkpoint run/checkpoints
expect inspect-folder 0 "MANIFEST: data $folder; did you mean data/manifest\.yaml\?" data inspect data
expect convert-folder 0 "--images: data $folder \(relative" data convert --images data --out x
expect missing-relative 2 "data\.train: nowhere/manifest\.yaml does not exist \(relative to the current directory $here\)" \
  train c.yaml --set data.train=nowhere/manifest.yaml
expect missing-config 0 "CONFIG: nothing\.yaml does not exist \(relative to the current directory $here\)" eval nothing.yaml
expect missing-absolute 0 "data\.train: /nowhere/manifest\.yaml does not exist$" train c.yaml --set data.train=/nowhere/manifest.yaml
echo PASS
