#!/usr/bin/env bash
# Train every shipped model on one lent GPU in one budgeted session (issue 7's models, and
# the generator and upscaler again at GPU scale), sharing the card between five runs.
#
#   python scripts/prepare_gpu_data.py ../shared/data .gpu_data    # here, once
#   BUDGET_MIN=18 bash scripts/gpu_train_models.sh start           # on the GPU machine
#   bash scripts/gpu_train_models.sh pack "$OUT"                   # later: slim checkpoints + logs
#
# `start` launches the inpainting, generator and upscaler runs in the background (setsid, so
# they outlive the command that started them), then in the foreground: segmenter round 1 on
# Stanford's train split, pseudo-labels for the landscape photos it is sure of, round 2 on
# both, maps for all landscape photos from round 2 through `landscape label`, and finally
# pix2pix on landscapes + Stanford in the background. Every run stops at the shared deadline
# (--max-minutes), so the whole session fits the lease. EXTRA is appended to every trainer's
# arguments (a smoke test on the CPU: EXTRA="--steps 2 --batch-size 2 --workers 0").
#
# The background runs live only as long as the machine: a lent machine that sits idle between
# two calls (30 s) is given back with them. Pack after every call (`pack`), and keep the calls
# back to back; the first session that ran this lost its runs 7 minutes in that way, and
# shipped the checkpoints its first `pack` had brought back.
set -euo pipefail
cd "$(dirname "$0")/.."
D=.gpu_data
R=gpu_runs
PY=${PY:-python3}
EXTRA=${EXTRA:-}
mkdir -p "$R/logs"

minutes_left() {  # of the budget set at `start`
  "$PY" -c "import sys,time; print(max(0.5, round(float(sys.argv[1]) - (time.time() - float(sys.argv[2])) / 60, 2)))" \
    "$(cat $R/budget_min)" "$(cat $R/start_time)"
}

background() {  # name, module, args...
  local name=$1; shift
  setsid nohup "$PY" -m "$@" >"$R/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$R/logs/$name.pid"
}

latest() { ls "$1"/checkpoints/step_*.safetensors 2>/dev/null | sort | tail -1 || true; }

start() {
  echo "${BUDGET_MIN:-18}" >"$R/budget_min"
  date +%s >"$R/start_time"
  local common="--workers 3 --log-every 100 --checkpoint-every 1000 --keep-last 1 --eval-every 2000 --sample-every 2000"
  local t; t=$(minutes_left)
  # GLCIC's phases are shares of --steps: 8000 is what the card is expected to reach in the
  # budget beside four other runs; if it is slower, the joint phase is cut short, not skipped.
  background inpaint trainers.glcic --data $D/photos/landscapes --out $R/inpaint --steps 8000 --batch-size 24 \
    --phase-ratios 0.2 0.02 --max-minutes "$t" $common $EXTRA
  background generate trainers.dcgan --data $D/photos/landscapes --out $R/generate --resolution 128 --g-width 32 \
    --d-width 32 --loss hinge --optimizer adam --spectral-norm --batch-size 64 --steps 200000 --ema-start 2000 \
    --max-minutes "$t" $common $EXTRA
  background upscale trainers.esrgan --data $D/photos/landscapes --out $R/upscale --batch-size 32 --steps 200000 \
    --max-minutes "$t" $common $EXTRA

  local seg="--class-map stanford --holdout-list $D/stanford_val.txt --width 24 --batch-size 32 --steps 100000"
  "$PY" -m trainers.segmenter --data $D/photos/stanford --maps $D/maps/stanford --out $R/segmenter-r1 $seg \
    --max-minutes "${SEG_MIN:-2}" $common --eval-every 500 $EXTRA >"$R/logs/segmenter-r1.log" 2>&1
  "$PY" -m trainers.pseudo_labels "$(latest $R/segmenter-r1)" --photos $D/photos/landscapes --out $R/pseudo \
    --keep 0.5 --min-confidence 0.7 --exclude $D/landscapes_held_out.txt 2>>"$R/logs/segmenter-r1.log"
  mkdir -p $R/seg2/photos/landscapes $R/seg2/maps
  cp -r $D/photos/stanford $R/seg2/photos/stanford
  cp -r $D/maps/stanford $R/seg2/maps/stanford
  cp -r $R/pseudo $R/seg2/maps/landscapes
  rm $R/seg2/maps/landscapes/ranking.json
  for m in $R/pseudo/*.png; do
    stem=$(basename "$m" .png); cp $D/photos/landscapes/"$stem".* $R/seg2/photos/landscapes/
  done
  "$PY" -m trainers.segmenter --data $R/seg2/photos --maps $R/seg2/maps --out $R/segmenter-r2 $seg \
    --max-minutes "${SEG_MIN:-2}" $common --eval-every 500 $EXTRA >"$R/logs/segmenter-r2.log" 2>&1

  for round in r1 r2; do
    "$PY" -m landscape_cli export "$(latest $R/segmenter-$round)" -o $R/label-$round.onnx
  done
  # Round 1's maps of the held-out photos, for the sheet that compares the rounds.
  mkdir -p $R/heldout
  while read -r name; do cp $D/photos/landscapes/"$name" $R/heldout/; done <$D/landscapes_held_out.txt
  "$PY" -m landscape_cli label $R/heldout --index -o $R/maps-r1-heldout --model $R/label-r1.onnx --quiet >/dev/null
  mkdir -p $R/p2p_maps
  cp -r $D/maps/stanford $R/p2p_maps/stanford
  "$PY" -m landscape_cli label $D/photos/landscapes --index -o $R/p2p_maps/landscapes --model $R/label-r2.onnx \
    --quiet >/dev/null
  background translate trainers.pix2pix --data $D/photos --maps $R/p2p_maps --class-map stanford \
    --holdout-list $D/held_out_stems.txt --num-downs 7 --g-width 32 --resolution 256 --min-scale 0.6 \
    --batch-size 16 --steps 200000 --max-minutes "$(minutes_left)" $common $EXTRA
  status
}

status() {  # the newest training record of every run, then the card's load
  for run in $R/*/; do
    if [ ! -f "$run/metrics.jsonl" ]; then continue; fi
    printf '%-14s %s\n' "$(basename "$run")" "$(grep '"kind": "train"' "$run/metrics.jsonl" | tail -1 | cut -c1-160)"
  done
  grep -h -i -E "error|Traceback" $R/logs/*.log | tail -5 || true
  nvidia-smi --query-gpu=utilization.gpu,memory.used --format=csv,noheader 2>/dev/null || true
}

wait_all() {
  for pid in $R/logs/*.pid; do
    while kill -0 "$(cat "$pid")" 2>/dev/null; do sleep 5; done
  done
}

pack() {  # out-folder: slim fp16 checkpoints, configs, metrics, last samples, maps, logs; 15 MiB pieces
  local out=$1 stage=$R/pack
  rm -rf $stage && mkdir -p $stage
  for run in $R/inpaint $R/generate $R/upscale $R/translate $R/segmenter-r1 $R/segmenter-r2; do
    [ -d "$run" ] || continue
    local name; name=$(basename $run); mkdir -p $stage/$name/samples
    cp $run/config.json $run/split.json $run/metrics.jsonl $stage/$name/ 2>/dev/null || true
    cp $run/loss_curve.png $stage/$name/ 2>/dev/null || true
    local sample; sample=$(ls $run/samples/*.png 2>/dev/null | sort | tail -1 || true)
    if [ -n "$sample" ]; then cp "$sample" $stage/$name/samples/; fi
    local ckpt; ckpt=$(latest $run)
    # Round 1 is only compared (its maps come back), not shipped: its weights stay behind.
    if [ -n "$ckpt" ] && [ "$name" != segmenter-r1 ]; then "$PY" -m trainers.slim "$ckpt" $stage/$name/slim_$(basename "$ckpt"); fi
  done
  cp -r $R/logs $stage/
  for d in p2p_maps/landscapes maps-r1-heldout pseudo; do
    if [ -d $R/$d ]; then mkdir -p $stage/maps && cp -r $R/$d $stage/maps/$(echo $d | tr / _); fi
  done
  tar -cf $R/pack.tar -C $stage .
  split -b 15M -d $R/pack.tar "$out/pack.tar."
  ls -la "$out"
}

case "${1:-}" in
  start) start ;;
  status) status ;;
  wait) wait_all; status ;;
  pack) pack "$2" ;;
  *) echo "usage: $0 start|status|wait|pack OUT" >&2; exit 2 ;;
esac
