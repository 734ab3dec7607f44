"""Λ24-SQ on a CUDA GPU: exactness with TF32 allowed, and throughput against the brute forces,
in one short prepared run (one process, so CUDA starts once).

    python benchmarks/check_leech_gpu.py [--device cuda] [--batches 4096 65536] [--rows 1000]
                                         [--repeats 5] [--json OUT]

1. **Exactness.** npq's decoder on the device (CUDA tensors use the pure-torch structured path)
   against the float64 brute-force reference computed on the CPU, under two settings: the
   defaults, and TF32 allowed (``torch.backends.cuda.matmul.allow_tf32 = True`` and
   ``torch.set_float32_matmul_precision("high")``; the decoder must force full-precision matmuls
   itself). Families (``--rows`` each): Gaussian, integers in [-2, 2], sparse ±1, midpoints of
   neighbouring codewords, Gaussian scaled to 3e38 and to 1e-43 (subnormal) in float32, to 1e300
   and 1e-300 in float64, fp16 and bf16 rows, and zero rows. Every index must agree.
2. **Throughput**, best of ``--repeats`` synchronized calls per method and batch, Gaussian rows:
   npq (on CUDA the structured torch path; on the CPU the fused kernel), the float32 brute force
   (``x @ C^T`` and argmax, chunks of 1,024 rows, TF32 off), and the original code's bf16 brute
   force (the same under ``torch.autocast(dtype=torch.bfloat16)``); vectors/s, and how many
   indices each brute force gets wrong against npq's exact answers.

Prints a table; exits non-zero on any exactness mismatch. Runs on the CPU too (``--device cpu``,
CPU autocast for bf16), which is how the tests keep it working.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_leech import make_inputs  # noqa: E402  (the benchmark's own input families)


def families(rows: int) -> dict[str, torch.Tensor]:
    """The exactness families, (rows, 24) each (zeros: 4 rows)."""
    g = torch.randn(rows, 24, generator=torch.Generator().manual_seed(1))
    fam = {k: make_inputs(k, rows) for k in ("gaussian", "integers", "sparse", "midpoints")}
    unit = g / g.abs().amax(1, keepdim=True)
    fam.update({
        "huge32": (unit * 3e38).float(), "subnormal32": (unit.double() * 1e-43).float(),
        "huge64": unit.double() * 1e300, "tiny64": unit.double() * 1e-300,
        "fp16": g.half(), "bf16": g.bfloat16(), "zeros": torch.zeros(4, 24),
    })
    return fam


def exactness(device: str, rows: int) -> list[dict]:
    from npq.lattices import leech

    out = []
    for name, x in families(rows).items():
        truth = leech.nearest_bruteforce(x.double())[0]
        for setting in ("default", "tf32"):
            prev = (torch.backends.cuda.matmul.allow_tf32, torch.get_float32_matmul_precision())
            try:
                if setting == "tf32":
                    torch.backends.cuda.matmul.allow_tf32 = True
                    torch.set_float32_matmul_precision("high")
                idx = leech.nearest(x.to(device))[0].cpu()
            finally:
                torch.backends.cuda.matmul.allow_tf32 = prev[0]
                torch.set_float32_matmul_precision(prev[1])
            out.append({"family": name, "setting": setting, "rows": len(x), "mismatches": int((idx != truth).sum())})
    return out


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _best_time(fn, device: str, repeats: int) -> tuple[float, torch.Tensor]:
    out = fn()  # warm-up (tables, kernels, workspace)
    _sync(device)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        _sync(device)
        best = min(best, time.perf_counter() - t0)
    return best, out


def throughput(device: str, batches: list[int], repeats: int) -> list[dict]:
    from npq.lattices import leech

    cb = leech.codebook().to(device)  # (196,560, 24) float32 unit codewords
    dev_type = torch.device(device).type

    def brute(x: torch.Tensor, bf16: bool) -> torch.Tensor:
        with torch.autocast(dev_type, dtype=torch.bfloat16, enabled=bf16):
            return torch.cat([(x[r : r + 1024] @ cb.T).argmax(1) for r in range(0, len(x), 1024)])

    out = []
    for batch in batches:
        x = make_inputs("gaussian", batch).to(device)
        t_npq, exact = _best_time(lambda: leech.nearest(x)[0], device, repeats)
        t_fp32, i_fp32 = _best_time(lambda: brute(x, False), device, repeats)
        t_bf16, i_bf16 = _best_time(lambda: brute(x, True), device, repeats)
        out.append({"batch": batch, "npq": batch / t_npq, "fp32_bruteforce": batch / t_fp32, "bf16_bruteforce": batch / t_bf16,
                    "fp32_wrong": int((i_fp32 != exact).sum()), "bf16_wrong": int((i_bf16 != exact).sum())})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--batches", type=int, nargs="+", default=[4096, 65536])
    ap.add_argument("--rows", type=int, default=1000, help="rows per exactness family (default 1000)")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--json", help="also write the results to this JSON file")
    a = ap.parse_args(argv)
    name = torch.cuda.get_device_name(a.device) if a.device.startswith("cuda") else "CPU"
    print(f"torch {torch.__version__}, device {a.device} ({name})")
    ex = exactness(a.device, a.rows)
    bad = [e for e in ex if e["mismatches"]]
    print(f"exactness: {len(ex)} family/setting pairs, {sum(e['rows'] for e in ex):,} rows, "
          f"{sum(e['mismatches'] for e in ex)} mismatches against the float64 brute force")
    for e in bad:
        print(f"  MISMATCH {e['family']} ({e['setting']}): {e['mismatches']} of {e['rows']} rows")
    tp = throughput(a.device, a.batches, a.repeats)
    print("\n| batch | npq (vec/s) | fp32 brute force (vec/s) | bf16 brute force (vec/s) | npq / fp32 | npq / bf16 "
          "| wrong indices fp32 / bf16 |\n|---|---|---|---|---|---|---|")
    for r in tp:
        print(f"| {r['batch']:,} | {r['npq']:,.0f} | {r['fp32_bruteforce']:,.0f} | {r['bf16_bruteforce']:,.0f} | "
              f"{r['npq'] / r['fp32_bruteforce']:.2f}x | {r['npq'] / r['bf16_bruteforce']:.2f}x | {r['fp32_wrong']} / {r['bf16_wrong']} |")
    if a.json:
        Path(a.json).write_text(json.dumps({"device": name, "exactness": ex, "throughput": tp}, indent=1))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
