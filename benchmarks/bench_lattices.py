"""The densest-packing table's decoders, side by side in one run (CPU, the threads given):

* each first-shell decoder (A2, D4, A3, D5, E6, E7, E8, K12, Λ16, Λ24; the fused numba kernel and the
  pure-torch path) against a float32 brute force over
  its own codebook (``argmax(x @ C^T)``, the baseline any peer library uses) on Gaussian and on
  integer (tie-heavy) inputs: vectors per second and the ratio;
* the full-lattice nearest-point decoders (E6, E6*, E7, E7*, K12, Λ16, Λ24) per vector, and the
  full Λ24 decoder's cost relative to the Λ24 shell decoder.

npq's fused decoder and the brute force are timed interleaved (best of ``--repeats`` each).

Usage: python benchmarks/bench_lattices.py [--batch 8192] [--repeats 3] [--threads 2] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch


def _rate(fn, x, repeats: int) -> float:
    fn(x[:64])  # warm-up (tables, caches)
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn(x)
        best = min(best, time.perf_counter() - t0)
    return x.shape[0] / best


def _rates(fns, x, repeats: int) -> list[float]:
    """Vectors/s of each of ``fns`` on ``x``, best of ``repeats``, the calls interleaved (a, b,
    a, b, ...) so that every method meets the same machine state (torch's OpenMP threads still
    spinning after a torch op, caches, frequency)."""
    for fn in fns:
        fn(x[:64])  # warm-up (tables, caches)
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for k, fn in enumerate(fns):
            t0 = time.perf_counter()
            fn(x)
            best[k] = min(best[k], time.perf_counter() - t0)
    return [x.shape[0] / b for b in best]


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=8192)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", help="write the results as JSON")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    from npq.lattices import make_code
    from npq.lattices.densest import LATTICE_DECODERS

    g = torch.Generator().manual_seed(0)
    res: dict = {"batch": a.batch, "threads": a.threads, "shells": [], "lattices": []}
    print(f"first shells: vectors/s, batch {a.batch}, {a.threads} threads (best of {a.repeats})")
    print("| shell | size | inputs | npq fused (vec/s) | npq torch path (vec/s) | fp32 brute force (vec/s) | fused / brute |")
    print("|---|---|---|---|---|---|---|")
    for name in ("a2", "d4", "a3", "d5", "e6", "e7", "e8", "k12", "lambda16", "leech"):
        code = make_code(name)
        cb32 = code.codebook(torch.float32)

        def brute(x, cb=cb32):
            return torch.cat([(x[i : i + 1024] @ cb.T).argmax(1) for i in range(0, x.shape[0], 1024)])

        for kind in ("gaussian", "integers"):
            x = torch.randn(a.batch, code.dim, generator=g) if kind == "gaussian" else torch.randint(-2, 3, (a.batch, code.dim), generator=g).float()
            os.environ["NPQ_KERNELS"] = ""
            ours, base = _rates([lambda v: code.nearest(v), brute], x, a.repeats)
            os.environ["NPQ_KERNELS"] = "torch"
            torch_path = _rate(lambda v: code.nearest(v), x, a.repeats)
            os.environ["NPQ_KERNELS"] = ""
            res["shells"].append({"code": name, "size": code.size, "inputs": kind, "npq": ours, "npq_torch_path": torch_path,
                                  "bruteforce_fp32": base, "ratio": ours / base})
            print(f"| {name} | {code.size:,} | {kind} | {ours:,.0f} | {torch_path:,.0f} | {base:,.0f} | {ours / base:.2f}x |")
    print(f"\nfull lattices: nearest point, vectors/s (Gaussian inputs, sd 4), batch {a.batch // 4}")
    print("| lattice | vectors/s |\n|---|---|")
    for name, fn in LATTICE_DECODERS.items():
        dim = {"E6": 6, "E6*": 6, "E7": 8, "E7*": 8, "K12": 12, "Λ16": 16, "Λ24": 24}[name]
        x = torch.randn(a.batch // 4, dim, generator=g, dtype=torch.float64) * 4
        r = _rate(fn, x, a.repeats)
        res["lattices"].append({"lattice": name, "vectors_per_s": r})
        print(f"| {name} | {r:,.0f} |")
    shell = next(s["npq"] for s in res["shells"] if s["code"] == "leech" and s["inputs"] == "gaussian")
    full = next(r["vectors_per_s"] for r in res["lattices"] if r["lattice"] == "Λ24")
    res["leech_full_over_shell_cost"] = shell / full
    print(f"\nfull Λ24 lattice decoder costs {shell / full:.1f}x the Λ24 shell decoder per vector (target: within 10x)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    return res


if __name__ == "__main__":
    main()
