"""Parameters and training FLOPs (forward + backward) of a config's tokenizer on one crop of its
resolution, counted by torch.utils.flop_counter (convolutions and matmuls).

    python scripts/count_flops.py configs/default_leech_v2_gpu.yaml [--resolution 256]
"""

from __future__ import annotations

import argparse

import torch
from torch.utils.flop_counter import FlopCounterMode

from npq.models.build import build_tokenizer
from npq.train import load_config


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("config")
    ap.add_argument("--resolution", type=int, help="crop side (default: the config's data.resolution)")
    a = ap.parse_args()
    cfg = load_config(a.config)
    res = a.resolution or cfg.data.resolution
    model = build_tokenizer(cfg.model, res)
    with FlopCounterMode(display=False) as fc:
        model(torch.randn(1, 3, res, res)).recon.sum().backward()
    params = sum(p.numel() for p in model.parameters())
    print(f"{cfg.name}: {params / 1e6:.1f} M parameters, {fc.get_total_flops() / 1e9:.0f} GFLOP forward + backward per {res}-px crop")


if __name__ == "__main__":
    main()
