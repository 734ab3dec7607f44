#!/usr/bin/env bash
# Reproduce npq's default Λ24-SQ tokenizer from scratch on a CPU machine (Debian/Ubuntu, root or sudo).
# 1. the training photos (Debian packages; never the public evaluation set)
# 2. the project's own trainer with the committed config
# 3. export the EMA weights (fp16) to src/npq/assets/default_leech_f8.pt
set -euo pipefail
cd "$(dirname "$0")/.."
SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
$SUDO apt-get update -qq
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mate-backgrounds opencv-doc libjxl-testdata
make setup
.venv/bin/npq train configs/default_leech_f8.yaml "$@"
.venv/bin/python scripts/export_default.py runs/default_leech_f8
