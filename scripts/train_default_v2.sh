#!/usr/bin/env bash
# Reproduce npq's default model v2 (residual Λ24-SQ, 4 stages, downsampling 8) on a CPU machine
# (Debian/Ubuntu, root or sudo); see docs/default-model.md.
# 1. the training photos: the Debian photo and wallpaper packages (never the public evaluation set)
# 2. v2 starts from v1's weights (train.init_from: default_leech_f8, shipped in src/npq/assets;
#    scripts/train_default.sh reproduces v1 from scratch first, ~1 h)
# 3. the project's own trainer with the committed config; it resumes from the newest checkpoint
#    in runs/default_leech_v2 when interrupted (run this script again)
# 4. export the EMA weights (fp16) to src/npq/assets/default_leech_v2.safetensors, fit the
#    per-stage context prior and train the integer neural prior (the default; one network per
#    stage, ~50 min on 2 cores with one thread) on crops of the same training photos
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mate-backgrounds opencv-doc libjxl-testdata \
  plasma-workspace-wallpapers gnome-backgrounds ukui-wallpapers sway-backgrounds
make setup
RESUME=""; ls runs/default_leech_v2/ckpt_*.pt >/dev/null 2>&1 && RESUME="--resume"
.venv/bin/npq train configs/default_leech_v2.yaml $RESUME "$@"
.venv/bin/python scripts/export_default.py runs/default_leech_v2 default_leech_v2
.venv/bin/npq train-prior --kind context --checkpoint default_leech_v2 --data photos:debian photos:wallpapers \
  --out src/npq/assets/default_leech_v2_context.safetensors --crops 256 --crop 256
OMP_NUM_THREADS=1 .venv/bin/npq train-prior --kind neural --checkpoint default_leech_v2 --data photos:debian photos:wallpapers \
  --out src/npq/assets/default_leech_v2_neural.safetensors --crops 1024 --crop 256 --steps 4000 --qat-steps 1000 --seed 1
