#!/usr/bin/env bash
# The whole pipeline on a small embedded default, on CPU, in a few minutes:
#   set up ./.venv -> generate a small synthetic dataset -> check it -> preview it
#   -> train SD Mask R-CNN for a few steps -> benchmark it against connected_components.
# Usage: bash scripts/quickstart.sh [OUT_DIR]   (default runs/quickstart; rerunning resumes/reuses)
#   QUICKSTART_IMAGES (default 60) and QUICKSTART_STEPS (default 20) size the run.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/quickstart}
IMAGES=${QUICKSTART_IMAGES:-60}
STEPS=${QUICKSTART_STEPS:-20}
bash scripts/setup_env.sh
export PATH="$PWD/.venv/bin:$PATH" WANDB_MODE=offline PYOPENGL_PLATFORM=${PYOPENGL_PLATFORM:-egl}
mkdir -p "$OUT"

echo "== 1/5 generate $IMAGES synthetic depth images (pybullet heaps, pyrender depth + masks)"
sdmr-generate --output "$OUT/data" --num-images "$IMAGES" --seed 0 --workers 2 --height 192 --width 256

echo "== 2/5 check the dataset and draw a preview grid"
sdmr-data check "$OUT/data"
sdmr-generate preview "$OUT/data" --output "$OUT/preview.png"

echo "== 3/5 train SD Mask R-CNN (ResNet-35 FPN) for $STEPS steps on CPU"
python -m sdmr.train experiment=cpu_small data.root="$OUT/data" trainer.max_steps="$STEPS" \
  trainer.val_check_interval="$STEPS" data.val_size=8 logger=csv hydra.run.dir="$OUT/train"
CKPT="$OUT/train/checkpoints/last.ckpt"

echo "== 4/5 benchmark: sdmr vs connected_components on the held-out test split"
sdmr-bench --methods sdmr,connected_components --param sdmr.checkpoint="$CKPT" \
  --dataset "$OUT/data" --split test --output "$OUT/bench" --overwrite

echo "== 5/5 segment real depth frames with the checkpoint (the shipped UOIS samples, if present)"
if [ -d ../shared/samples ]; then
  mkdir -p "$OUT/real_frames"
  cp ../shared/samples/uois_*_depth.npy "$OUT/real_frames/" 2>/dev/null || true
  sdmr-segment "$OUT/real_frames" --checkpoint "$CKPT" --out "$OUT/segmented"
fi

echo
cat "$OUT/bench/table.md"
echo "Outputs in $OUT: data/ preview.png train/ (checkpoints, metrics.json) bench/ (results.json, table.md, overlays/)"
echo "A few steps do not make a useful model: see README 'Training' for experiment=cpu_small (minutes) and experiment=paper."
