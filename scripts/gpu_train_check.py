"""GPU check of the paper's training path (issue #28, part of scripts/check_gpu.sh): N steps of the
ViT-S/8 Λ24-SQ tokenizer (configs/imagenet128_vits8_leech.yaml, the authors' recipe) under bf16
autocast on synthetic 160-px images, batch B on one device. Prints one JSON line: first and last
losses (mean of the first / last 10 steps), whether any loss was non-finite, steps/s after the
first 10 steps, peak device memory. LPIPS-VGG falls back to the random-VGG stand-in when its
weights are absent (said in the output).

    python scripts/gpu_train_check.py [--steps 200] [--batch 64] [--config configs/imagenet128_vits8_leech.yaml]

Runs on a CPU too (small --steps/--batch), which is how the test suite keeps it working.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from npq.train import Trainer, load_config  # noqa: E402
from npq.apps.dry_run import preflight, synthetic_images  # noqa: E402


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", default=str(Path(__file__).resolve().parents[1] / "configs" / "imagenet128_vits8_leech.yaml"))
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("overrides", nargs="*", help="extra key=value overrides")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory() as d:
        data = synthetic_images(Path(d) / "data", 64, 160)
        base = load_config(args.config, args.overrides)
        problems, stand_ins = preflight(base)
        extra = [s for s in stand_ins if s.startswith("loss.perceptual_net=")]
        o = [f"data.train={data}", f"data.batch_size={args.batch}", "data.num_workers=2", f"optim.steps={args.steps}",
             f"train.out_dir={Path(d) / 'run'}", f"train.ckpt_every={10 * args.steps}", f"train.image_every={10 * args.steps}",
             "train.log_every=1", "train.tensorboard=false", *extra, *args.overrides]
        t = Trainer(load_config(args.config, o), progress=False)
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        times, losses = [], []
        from npq.data.images import batches

        it = batches(t.dataset, args.batch, 0, 1, 0, 0, 2)
        for step in range(args.steps):
            _, b = next(it)
            t0 = time.perf_counter()
            logs = t.train_step(b)
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
            losses.append(logs["loss"])
        k = min(10, max(1, len(losses) // 2))
        res = {
            "device": torch.cuda.get_device_name() if torch.cuda.is_available() else "cpu",
            "bf16": t.use_bf16, "steps": args.steps, "batch": args.batch,
            "loss_first": sum(losses[:k]) / k, "loss_last": sum(losses[-k:]) / k,
            "non_finite": any(not math.isfinite(v) for v in losses),
            "steps_per_s": (len(times) - k) / max(sum(times[k:]), 1e-9) if len(times) > k else None,
            "peak_memory_gib": torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None,
            "stand_ins": extra,
        }
        res["loss_fell"] = res["loss_last"] < res["loss_first"]
    print(json.dumps(res))
    return 0 if res["loss_fell"] and not res["non_finite"] else 1


if __name__ == "__main__":
    sys.exit(main())
