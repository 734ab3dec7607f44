"""Peak memory (max RSS) and wall time of `npq compress` / `npq decompress` (and `npq tokenize` /
`npq reconstruct`) on large photos, each
in its own process (issue 30: target <= 1.5 GB = 1,536 MB for any photo Pillow accepts; the last
line says whether every command met it).

    python benchmarks/bench_memory.py [--megapixels 24] [--rgba] [--out bench_out/memory.json]

The photo is synthetic (smooth random colour, 3:2), written once as PNG; the shipped default
model and prior; compress with and without its summary line (--quiet), decompress, tokenize,
reconstruct.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image


TARGET_MB = 1536
_WRAP = ("import resource, sys\nfrom npq.cli.main import main\nrc = main(sys.argv[1:])\n"
         "print('MAXRSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\nsys.exit(rc)\n")


def _run(args: list[str]) -> dict:
    """One npq command in a fresh process: wall seconds and that process's own peak RSS."""
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", _WRAP, *args], capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"npq {' '.join(args)} failed: {r.stderr.strip()[-300:]}")
    kb = int(r.stderr.rsplit("MAXRSS_KB", 1)[1].split()[0])
    return {"seconds": time.perf_counter() - t0, "peak_mb": kb / 1024, "stdout": r.stdout.strip()[-200:]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--megapixels", type=float, default=24.0)
    ap.add_argument("--rgba", action="store_true", help="an RGBA photo (alpha plane coded too)")
    ap.add_argument("--out", default=None, help="also write the results as JSON")
    args = ap.parse_args(argv)
    w = int(math.sqrt(args.megapixels * 1e6 * 1.5))
    h = int(w / 1.5)
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "big.png"
        g = np.random.default_rng(0)
        low = g.integers(0, 256, (max(2, h // 100), max(2, w // 100), 4 if args.rgba else 3), dtype=np.uint8)
        Image.fromarray(low).resize((w, h), Image.BICUBIC).save(src)
        res = {"photo": f"{w}x{h} {'RGBA' if args.rgba else 'RGB'}"}
        res["compress --quiet"] = _run(["compress", str(src), str(Path(d) / "a.npq"), "--quiet"])
        res["decompress"] = _run(["decompress", str(Path(d) / "a.npq"), str(Path(d) / "a_dec.png"), "--quiet"])
        res["compress (with its summary)"] = _run(["compress", str(src), str(Path(d) / "b.npq")])
        res["tokenize"] = _run(["tokenize", str(src), "--out", str(Path(d) / "t.npz"), "--quiet"])
        res["reconstruct (with its PSNR)"] = _run(["reconstruct", str(src), "--out", str(Path(d) / "rec")])
    print(f"| {res['photo']} | seconds | peak RSS (MB) |\n|---|---|---|")
    for k, v in res.items():
        if isinstance(v, dict):
            print(f"| {k} | {v['seconds']:.1f} | {v['peak_mb']:.0f} |")
    worst = max(v["peak_mb"] for v in res.values() if isinstance(v, dict))
    res["target_mb"], res["met"] = TARGET_MB, worst <= TARGET_MB
    print(f"peak {worst:,.0f} MB: target of {TARGET_MB:,} MB {'met' if res['met'] else 'NOT met'}")
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(res, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
