"""Export the latest checkpoint of a training run as npq's shipped default model (fp16 EMA weights)."""

from __future__ import annotations

import sys

from npq.train import latest_checkpoint
from npq.zoo import DEFAULT, SHIPPED, export_model


def main(run_dir: str, name: str = DEFAULT) -> None:
    ckpt = latest_checkpoint(run_dir)
    if ckpt is None:
        sys.exit(f"no checkpoint in {run_dir}")
    out = SHIPPED[name].model
    info = export_model(ckpt, out)
    print(f"exported {ckpt} (step {info['step']}) -> {out} ({out.stat().st_size / 2**20:.1f} MiB)")


if __name__ == "__main__":
    main(*sys.argv[1:])
