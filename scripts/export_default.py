"""Export the latest checkpoint of a training run as npq's shipped default model (fp16 EMA weights)."""

from __future__ import annotations

import sys
from pathlib import Path

from npq.train import latest_checkpoint
from npq.train.build import export_model

ASSETS = Path(__file__).resolve().parents[1] / "src" / "npq" / "assets"


def main(run_dir: str, name: str = "default_leech_f8") -> None:
    ckpt = latest_checkpoint(run_dir)
    if ckpt is None:
        sys.exit(f"no checkpoint in {run_dir}")
    out = ASSETS / f"{name}.pt"
    info = export_model(ckpt, out)
    print(f"exported {ckpt} (step {info['step']}) -> {out} ({out.stat().st_size / 2**20:.1f} MiB)")


if __name__ == "__main__":
    main(*sys.argv[1:])
