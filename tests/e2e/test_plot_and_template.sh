#!/usr/bin/env bash
# elbo plot RUN_DIR: a PNG of the right size with a panel per series that is not blank
# (jsonl and csv logs, --out into new folders, a clear error without a log). elbo config
# template: a commented config with every key that `elbo config check` accepts and that
# trains once data.train is set; a broken copy is refused naming its line.
source "$ELBO_SRC/tests/e2e/lib.sh"
make_dataset data 500 10 10 3 2
write_config c.yaml run data/manifest.yaml
elbo_np 1 train c.yaml --set train.steps=60 --set train.sample_grid=0 >train.log 2>&1 || { cat train.log; fail "train"; }

"$ELBO_BIN" plot run >plot.log 2>&1 || { cat plot.log; fail "plot"; }
grep -q "wrote run/curves.png (1200x700, 5 panels)" plot.log || { cat plot.log; fail "plot output line"; }
read -r w h channels colours ink < <("$PY" "$ELBO_SRC/tests/e2e/png_info.py" run/curves.png)
echo "curves.png: ${w}x${h}, $channels channels, $colours colours, $ink non-white pixels"
[ "$w x $h" = "1200 x 700" ] || fail "size ${w}x${h}"
[ "$colours" -ge 8 ] && [ "$ink" -gt 20000 ] || fail "the plot looks blank"

note "an IWAE run: its bound gets a panel of its own"
elbo_np 1 train c.yaml --set run.dir=iwrun --set train.objective=iwae --set train.iw_samples=3 --set train.steps=30 \
  --set train.sample_grid=0 >iw.log 2>&1 || { cat iw.log; fail "iwae train"; }
"$ELBO_BIN" plot iwrun >plot_iw.log 2>&1 || { cat plot_iw.log; fail "plot iwae"; }
grep -q "wrote iwrun/curves.png (1200x700, 6 panels)" plot_iw.log || { cat plot_iw.log; fail "no panel for the iwae bound"; }

note "csv log, --out into a new folder"
elbo_np 1 train c.yaml --set run.dir=csvrun --set train.metrics_format=csv --set train.steps=30 --set train.sample_grid=0 >csv.log 2>&1 || { cat csv.log; fail "csv train"; }
"$ELBO_BIN" plot csvrun --out figs/new/csv.png >plot2.log 2>&1 || { cat plot2.log; fail "plot csv"; }
[ "$("$PY" "$ELBO_SRC/tests/e2e/png_info.py" figs/new/csv.png | cut -d' ' -f1,2)" = "1200 700" ] || fail "csv plot size"
mkdir empty
set +e
"$ELBO_BIN" plot empty >none.log 2>&1; rc=$?
set -e
[ $rc = 1 ] && grep -q "empty/metrics.jsonl does not exist" none.log || { cat none.log; fail "plot without a log: rc $rc"; }

note "config template"
"$ELBO_BIN" config template >t.yaml || fail "template"
head -5 t.yaml
keys=$("$PY" -c "
import sys
lines = open('t.yaml').read().splitlines()
keyed = [l for l in lines if l.startswith('  ') and ':' in l]
assert all('#' in l for l in keyed), [l for l in keyed if '#' not in l]
print(len(keyed))")
[ "$keys" -ge 40 ] || fail "template has only $keys keys"
"$ELBO_BIN" config check t.yaml >check.log || { cat check.log; fail "template does not validate"; }
grep -q "t.yaml: valid" check.log && grep -q "note: data.train: data/train/manifest.yaml is not a file yet" check.log || { cat check.log; fail "check output"; }
elbo_np 1 train t.yaml --set data.train=data/manifest.yaml --set run.dir=trun --set train.steps=3 --set 'model.hidden=[8]' \
  --set train.sample_grid=0 >ttrain.log 2>&1 || { cat ttrain.log; fail "training from the template"; }
sed 's/^  lr: .*/  lr: -1/' t.yaml >bad.yaml
set +e
"$ELBO_BIN" config check bad.yaml >bad.log 2>&1; rc=$?
set -e
[ $rc = 1 ] && grep -Eq "bad\.yaml:[0-9]+: key 'train\.lr'" bad.log || { cat bad.log; fail "broken template accepted (rc $rc)"; }
echo PASS
