"""Λ24-SQ nearest-codeword throughput: npq's structured decoder vs the brute-force matmul + argmax
over all 196,560 codewords (the original authors' method), side by side in one run.

Each (method, batch) runs in a fresh subprocess so that its peak resident memory can be read;
the figure reported is the peak RSS increase during the timed calls (inputs and codebook are
created before the baseline is taken). Usage:

    python benchmarks/bench_leech.py [--batches 4096 65536] [--repeats 3] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _child(method: str, batch: int, repeats: int, device: str) -> dict:
    import torch

    from npq.lattices import leech

    torch.manual_seed(0)
    x = torch.randn(batch, 24, device=device)
    if method == "bruteforce":
        cb = leech.codebook().to(device)

        def run():
            out = []
            for r in range(0, batch, 1024):  # chunked so memory stays (1024 x 196,560) scores
                out.append((x[r : r + 1024] @ cb.T).argmax(1))
            return torch.cat(out)

    else:

        def run():
            return leech.nearest(x)[0]

    run() if batch <= 4096 else leech.nearest(x[:1024])  # warm-up (tables, workspace)
    if device == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
    base = _rss_mb()
    peak_path = "/proc/self/status"
    times = []
    idx = None
    for _ in range(repeats):
        t0 = time.perf_counter()
        idx = run()
        if device == "cuda":
            torch.cuda.synchronize()
        times.append(time.perf_counter() - t0)
    # VmHWM is the peak RSS of the process; report its increase over the baseline
    with open(peak_path) as f:
        hwm = next(int(line.split()[1]) / 1024 for line in f if line.startswith("VmHWM:"))
    res = {
        "method": method,
        "batch": batch,
        "vectors_per_s": batch / min(times),
        "peak_extra_mb": max(hwm - base, 0.0),
        "threads": torch.get_num_threads(),
        "indices_sha": int(idx.cpu().sum()) % (1 << 61),
    }
    if device == "cuda":
        res["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
    torch.save(idx.cpu(), f"/tmp/npq_bench_{method}_{batch}.pt")
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, nargs="+", default=[4096, 65536])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--child", nargs=2, metavar=("METHOD", "BATCH"), help=argparse.SUPPRESS)
    ap.add_argument("--json", help="also write the results to this JSON file")
    args = ap.parse_args()
    if args.child:
        print(json.dumps(_child(args.child[0], int(args.child[1]), args.repeats, args.device)))
        return

    import torch

    print(f"torch {torch.__version__}, {os.cpu_count()} CPU cores, device {args.device}")
    results = []
    for batch in args.batches:
        row = {}
        for method in ("structured", "bruteforce"):
            out = subprocess.run(
                [sys.executable, __file__, "--child", method, str(batch), "--repeats", str(args.repeats), "--device", args.device],
                capture_output=True, text=True, check=True,
            )
            row[method] = json.loads(out.stdout.strip().splitlines()[-1])
        a = torch.load(f"/tmp/npq_bench_structured_{batch}.pt")
        b = torch.load(f"/tmp/npq_bench_bruteforce_{batch}.pt")
        disagree = int((a != b).sum())
        s, bf = row["structured"], row["bruteforce"]
        results.append({"batch": batch, "structured": s, "bruteforce": bf, "speedup": s["vectors_per_s"] / bf["vectors_per_s"], "index_disagreements": disagree})
    print("\n| batch | npq structured (vec/s) | brute force fp32 (vec/s) | speed-up | peak extra MB (structured / brute) | differing indices |")
    print("|---|---|---|---|---|---|")
    for r in results:
        s, bf = r["structured"], r["bruteforce"]
        print(f"| {r['batch']:,} | {s['vectors_per_s']:,.0f} | {bf['vectors_per_s']:,.0f} | {r['speedup']:.1f}x | "
              f"{s['peak_extra_mb']:.0f} / {bf['peak_extra_mb']:.0f} | {r['index_disagreements']} |")
    print("\n'differing indices': where float32 brute force picks another codeword than the exact decoder "
          "(float32 rounding on near-ties); npq's answers are checked against the float64 reference in the tests.")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
