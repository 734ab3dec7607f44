#!/usr/bin/env bash
# Reproduce npq's default Λ24-SQ tokenizer and its learned prior from scratch on a CPU machine
# (Debian/Ubuntu, root or sudo); see docs/default-model.md.
# 1. the training photos (Debian packages; never the public evaluation set)
# 2. the project's own trainer with the committed config, stopped at step 3,750 as shipped
#    (pass --stop-at 6000 or nothing else to run the whole schedule)
# 3. export the EMA weights (fp16) to src/npq/assets/default_leech_f8.safetensors
# 4. train the learned token prior on tokens of the same photos (5. the context prior, 6. the
#    integer neural prior on the Debian photo and wallpaper packages)
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mate-backgrounds opencv-doc libjxl-testdata \
  plasma-workspace-wallpapers gnome-backgrounds ukui-wallpapers sway-backgrounds
make setup
STOP="${STOP_AT:-3750}"
.venv/bin/npq train configs/default_leech_f8.yaml --stop-at "$STOP" "$@"
.venv/bin/python scripts/export_default.py runs/default_leech_f8
.venv/bin/npq train-prior --checkpoint src/npq/assets/default_leech_f8.safetensors --data photos:debian \
  --out src/npq/assets/default_leech_f8_prior.safetensors --crops 256 --crop 256 --steps 700 --batch 8 --lr 2e-3 \
  --width 128 --depth 2 --heads 4
# 5. the portable context prior (integer counts; seconds after tokenizing)
.venv/bin/npq train-prior --kind context --checkpoint src/npq/assets/default_leech_f8.safetensors --data photos:debian \
  --out src/npq/assets/default_leech_f8_context.safetensors --crops 1024 --crop 256
# 6. the portable integer neural prior (npq's default prior; ~20 min on 2 cores with one thread)
OMP_NUM_THREADS=1 .venv/bin/npq train-prior --kind neural --checkpoint src/npq/assets/default_leech_f8.safetensors \
  --data photos:debian photos:wallpapers --out src/npq/assets/default_leech_f8_neural.safetensors --crops 2048 --crop 256 \
  --steps 6000 --qat-steps 1500 --seed 1
