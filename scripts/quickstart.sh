#!/usr/bin/env bash
# The whole pipeline on a small embedded default, on CPU, in a few minutes:
#   set up ./.venv -> generate a small synthetic dataset -> check it -> preview it
#   -> train SD Mask R-CNN for a few steps -> benchmark it against connected_components
#   -> segment real depth frames with the bundled model and benchmark it against the classical
#      baselines on real frames (when ../shared/samples is beside the checkout).
# Usage: bash scripts/quickstart.sh [OUT_DIR]   (default runs/quickstart; rerunning resumes/reuses)
#   QUICKSTART_IMAGES (default 60) and QUICKSTART_STEPS (default 20) size the run.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-runs/quickstart}
IMAGES=${QUICKSTART_IMAGES:-60}
STEPS=${QUICKSTART_STEPS:-20}
bash scripts/setup_env.sh
export PATH="$PWD/.venv/bin:$PATH" WANDB_MODE=offline PYOPENGL_PLATFORM=${PYOPENGL_PLATFORM:-egl}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}   # 2 threads collapse when anything else shares the 2 cores
mkdir -p "$OUT"

echo "== 1/6 generate $IMAGES synthetic depth images (pybullet heaps, pyrender depth + masks)"
sdmr-generate --output "$OUT/data" --num-images "$IMAGES" --seed 0 --workers 2 --height 192 --width 256

echo "== 2/6 check the dataset and draw a preview grid"
sdmr-data check "$OUT/data"
sdmr-generate preview "$OUT/data" --output "$OUT/preview.png"

echo "== 3/6 train SD Mask R-CNN (ResNet-35 FPN) for $STEPS steps on CPU"
CKPT="$OUT/train/checkpoints/last.ckpt"
# A rerun reuses a finished model and continues an interrupted one (Ctrl-C saves last.ckpt), so it
# never starts a second run in the same folder (python -m sdmr.train refuses that).
DONE_STEP=$(python - "$CKPT" <<'PY'
import sys, torch
try:
    print(torch.load(sys.argv[1], map_location="cpu", weights_only=True)["global_step"])
except Exception:
    print(-1)
PY
)
RESUME=()
if [ "$DONE_STEP" -ge 0 ]; then RESUME=("ckpt_path=$CKPT"); fi
if [ "$DONE_STEP" -ge "$STEPS" ]; then
  echo "   reusing the model trained to step $DONE_STEP in $OUT/train"
else
  [ "$DONE_STEP" -ge 0 ] && echo "   continuing the interrupted run from step $DONE_STEP"
  python -m sdmr.train experiment=cpu_small data.root="$OUT/data" trainer.max_steps="$STEPS" \
    trainer.val_check_interval="$STEPS" data.val_size=8 logger=csv hydra.run.dir="$OUT/train" "${RESUME[@]}"
fi

echo "== 4/6 benchmark: sdmr vs connected_components on the held-out test split"
sdmr-bench --methods sdmr,connected_components --param sdmr.checkpoint="$CKPT" \
  --dataset "$OUT/data" --split test --output "$OUT/bench" --overwrite

echo "== 5/6 segment real depth frames with the bundled model (the shipped UOIS samples, if present)"
if [ -d ../shared/samples ]; then
  mkdir -p "$OUT/real_frames"
  cp ../shared/samples/uois_*_depth.npy "$OUT/real_frames/" 2>/dev/null || true
  sdmr-segment "$OUT/real_frames" --intrinsics 612.937,613.173,322.549,248.158 --out "$OUT/segmented" --overwrite
fi

echo "== 6/6 the bundled model vs the classical baselines on 4 labelled real OCID frames (if present)"
if [ -d ../shared/samples/ocid_dev ]; then
  sdmr-bench --methods sdmr,region_growing,euclidean_clustering --param region_growing.preset=tabletop \
    --param euclidean_clustering.preset=paper_lowres --dataset ../shared/samples/ocid_dev \
    --intrinsics conf/cameras/ocid_kinect.intr --output "$OUT/bench_real" --overwrite
fi

echo
cat "$OUT/bench/table.md"
[ -f "$OUT/bench_real/table.md" ] && cat "$OUT/bench_real/table.md"
echo "Outputs in $OUT: data/ preview.png train/ (checkpoints, metrics.json) bench/ bench_real/ (results.json, table.md, overlays/) segmented/"
echo "A few steps do not make a useful model (step 4); the bundled model (steps 5-6) is the one to use: README 'Where it stands'."
