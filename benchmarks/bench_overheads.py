"""The fixed costs around the fused kernels that decide small calls, measured side by side
(the figures behind docs/performance.md's notes on the row splitter and the small shells).

* a thread-pool round trip (submit a no-op, wait): what handing a part to a thread costs;
* the E6 kernel on 4,096 rows in one part vs forced into two (this thread + one pool thread);
* the A3 kernel alone on 4,096 rows, idle and right after a torch matmul (torch's OpenMP threads
  still spinning on the cores);
* the codes of 4,096 indices from a cached table: ``np.take`` vs ``torch.index_select``;
* the A2 kernel's time per row.

Median and best of many calls, in µs. Usage: python benchmarks/bench_overheads.py [--threads 2]
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch


def _times(fn, n: int = 400, before=None) -> tuple[float, float]:
    """(best, median) of ``n`` calls of ``fn`` in µs; ``before()`` runs untimed before each."""
    ts = []
    for _ in range(n):
        if before is not None:
            before()
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return min(ts) * 1e6, float(np.median(ts)) * 1e6


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args(argv)
    torch.set_num_threads(a.threads)
    from npq.lattices import kernels, make_code, shell_kernels

    res = {}
    pool = ThreadPoolExecutor(2)
    pool.submit(int).result()
    res["pool round trip"] = _times(lambda: pool.submit(int).result(), 2000)

    e6 = make_code("e6")
    x6 = torch.randn(4096, 6, generator=torch.Generator().manual_seed(0))
    e6.nearest(x6)
    xn, tables = kernels.as_numpy(x6), e6._kernel_tables
    out = np.empty(4096, dtype=np.int64)
    res["E6 kernel, 4,096 rows, one part"] = _times(lambda: kernels.run_rows(shell_kernels._e6_kernel, xn, *tables, outs=(out,), min_rows=1 << 30))
    res["E6 kernel, 4,096 rows, two parts"] = _times(lambda: kernels.run_rows(shell_kernels._e6_kernel, xn, *tables, outs=(out,), min_rows=1))

    a3 = make_code("a3")
    x3 = torch.randint(-2, 3, (4096, 3), generator=torch.Generator().manual_seed(0)).float()
    a3.nearest(x3)
    xn3, (_, pair_index) = kernels.as_numpy(x3), a3._kernel_tables
    idx, hard = np.empty(4096, dtype=np.int64), np.empty(4096, dtype=np.bool_)
    grid = 2.0 ** (53 - 2)
    cb = a3.codebook(torch.float32)

    def a3_kernel():
        kernels._pair_kernel(xn3, 1.0, 1.0, pair_index, grid, idx, hard)

    def matmul():
        torch.cat([(x3[i : i + 1024] @ cb.T).argmax(1) for i in range(0, 4096, 1024)])

    res["A3 kernel, 4,096 rows, idle"] = _times(a3_kernel)
    res["A3 kernel, 4,096 rows, right after a torch matmul"] = _times(a3_kernel, before=matmul)

    e8 = make_code("e8")
    i8 = e8.nearest(torch.randn(4096, 8))[0]
    table = e8.__dict__["_code_tables"][(torch.float32, i8.device)]
    tn = table.numpy()
    res["codes of 4,096 indices, np.take"] = _times(lambda: torch.from_numpy(np.take(tn, i8.numpy(), axis=0)))
    res["codes of 4,096 indices, torch.index_select"] = _times(lambda: torch.index_select(table, 0, i8))

    a2 = make_code("a2")
    x2 = torch.randn(65536, 2, generator=torch.Generator().manual_seed(0))
    a2.nearest(x2[:8])
    xn2 = kernels.as_numpy(x2)
    o2 = np.empty(65536, dtype=np.int64)
    best, med = _times(lambda: shell_kernels._a2_kernel(xn2, a2._kernel_tables[0], o2), 50)
    res["A2 kernel per row (ns)"] = (best * 1e3 / 65536, med * 1e3 / 65536)

    print(f"{a.threads} threads; best / median of many calls")
    print("| what | best | median |\n|---|---|---|")
    for k, (b, m) in res.items():
        unit = "" if "(ns)" in k else " µs"
        print(f"| {k} | {b:,.1f}{unit} | {m:,.1f}{unit} |")
    return res


if __name__ == "__main__":
    main()
