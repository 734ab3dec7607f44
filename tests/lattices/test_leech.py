"""Λ24 minimal vectors: counts, bijection, geometry, and exactness of the structured decoder
against the float64 brute-force reference (with exact tie resolution)."""

import math

import numpy as np
import pytest
import torch

from npq.lattices import LeechCode, leech


@pytest.fixture(scope="module")
def icb():
    return leech.integer_codebook()


def test_sizes_and_norms(icb):
    assert leech.SIZE == 196560 and icb.shape == (196560, 24)
    assert torch.equal((icb * icb).sum(1), torch.full((196560,), 32))
    assert torch.unique(icb, dim=0).shape[0] == 196560
    a = icb.abs()
    nz = (icb != 0).sum(1)
    assert int((nz == 2).sum()) == 1104 and int((nz == 8).sum()) == 97152 and int((nz == 24).sum()) == 98304
    # canonical class order A, B, C
    assert bool((nz[:1104] == 2).all() and (nz[1104:98256] == 8).all() and (nz[98256:] == 24).all())
    assert int(a.max()) == 4


def test_lattice_congruences(icb):
    """Leech lattice membership (Conway & Sloane ch. 4): all coordinates of one parity m, sum = 4m
    mod 8, and for each residue the positions where x = m+2... form a Golay codeword pattern."""
    from npq.lattices import golay

    cw = {row.tobytes() for row in golay.codewords()}
    x = icb.numpy()
    odd = x[:, 0] % 2 != 0
    assert ((x % 2 != 0) == odd[:, None]).all()
    s = x.sum(1)
    assert (s[odd] % 8 == 4).all() and (s[~odd] % 8 == 0).all()
    sample = np.random.default_rng(0).choice(len(x), 3000, replace=False)
    for i in sample:
        v = x[i]
        pattern = ((v % 4 == 3) if odd[i] else (v % 4 == 2)).astype(np.uint8)
        assert pattern.tobytes() in cw


def test_inner_product_distribution(icb):
    """From any minimal vector the others lie at inner products 32/16/8/0/-8/-16/-32 (integer
    scaling) with counts 1/4600/47104/93150/47104/4600/1; in particular distinct unit codewords have
    inner product <= 1/2 (minimum angle 60 degrees)."""
    f = icb.float()
    rows = torch.randint(0, 196560, (200,))
    rows[:3] = torch.tensor([0, 1104, 98256])
    g = f[rows] @ f.T
    expect = {32: 1, 16: 4600, 8: 47104, 0: 93150, -8: 47104, -16: 4600, -32: 1}
    for r in range(len(rows)):
        vals, counts = torch.unique(g[r].round().long(), return_counts=True)
        assert dict(zip(vals.tolist(), counts.tolist())) == expect


def test_bijection_and_codebook(icb):
    idx = torch.arange(196560)
    assert torch.equal(leech.vector_to_index(icb), idx)
    cb = leech.codebook(torch.float64)
    assert torch.allclose(cb * math.sqrt(32), icb.double())
    assert torch.equal(leech.vector_to_index(cb), idx)  # unit vectors accepted too
    perm = torch.randperm(196560)[:1000].reshape(10, 100)
    assert torch.equal(leech.vector_to_index(leech.index_to_vector(perm)), perm)


def test_bijection_rejects_non_codewords():
    with pytest.raises(ValueError, match="not a codeword"):
        leech.vector_to_index(torch.tensor([[2, 2, 2, 2, 2, 2, 2, 2] + [0] * 16]))  # not an octad
    with pytest.raises(ValueError, match="not a codeword"):
        leech.vector_to_index(torch.tensor([[4, 4, 4] + [0] * 21]))
    with pytest.raises(ValueError, match=r"must lie in \[0, 196559\]"):
        leech.index_to_vector(torch.tensor([196560]))
    with pytest.raises(ValueError, match=r"\(\.\.\., 24\)"):
        leech.nearest(torch.randn(3, 23))


def _assert_same(x):
    i1, c1 = leech.nearest(x)
    i2, c2 = leech.nearest_bruteforce(x)
    bad = torch.nonzero(i1 != i2).flatten()
    assert bad.numel() == 0, f"{bad.numel()} mismatches, first x={x[bad[0]].tolist()}: {int(i1[bad[0]])} vs {int(i2[bad[0]])}"
    assert torch.equal(c1, c2)
    return i1


def test_exact_on_gaussian_inputs():
    _assert_same(torch.randn(4_000, 24))


@pytest.mark.slow
def test_exact_on_many_gaussian_inputs():  # the same check, 25x the inputs (pytest -m slow)
    _assert_same(torch.randn(100_000, 24))


def test_codewords_decode_to_themselves(icb):
    """Every class, every octad and sign pattern is hit by a stride coprime to the class sizes;
    the slow test below decodes all 196,560."""
    idx = torch.arange(0, 196560, 7)
    assert torch.equal(leech.nearest(icb[idx].float())[0], idx)
    sub = torch.randperm(196560, generator=torch.Generator().manual_seed(0))[:10000]
    assert torch.equal(leech.nearest(leech.codebook(torch.float64)[sub])[0], sub)
    noisy = leech.codebook()[idx] + 1e-4 * torch.randn(len(idx), 24, generator=torch.Generator().manual_seed(1))
    assert torch.equal(leech.nearest(noisy)[0], idx)


@pytest.mark.slow
def test_every_codeword_decodes_to_itself(icb):
    idx = torch.arange(196560)
    assert torch.equal(leech.nearest(icb.float())[0], idx)
    noisy = leech.codebook() + 1e-4 * torch.randn(196560, 24)
    assert torch.equal(leech.nearest(noisy)[0], idx)


def _tie_heavy(icb, scale):
    g = torch.Generator().manual_seed(1)
    ints = torch.randint(-2, 3, (1500 // scale, 24), generator=g).float()
    tiny = torch.randint(-1, 2, (1000 // scale, 24), generator=g).float()
    # midpoints of neighbouring codewords (inner product 16): exact ties between two codewords
    a = torch.randint(0, 196560, (200 // scale,), generator=g)
    f = icb.float()
    nb = []
    for i in a.tolist():
        j = torch.nonzero((f @ f[i]) == 16).flatten()
        nb.append((i, int(j[torch.randint(0, len(j), (1,), generator=g)])))
    mid = torch.stack([(f[i] + f[j]) / 2 for i, j in nb])
    # sparse vectors with a few Gaussian entries (sign and magnitude ties)
    sparse = torch.zeros(1500 // scale, 24)
    for k in range(1500 // scale):
        pos = torch.randperm(24, generator=g)[: 1 + k % 5]
        sparse[k, pos] = torch.randn(len(pos), generator=g)
    special = torch.stack([torch.zeros(24), torch.ones(24), -torch.ones(24), torch.arange(24.0), torch.eye(24)[5]])
    x = torch.cat([ints, tiny, mid, sparse, special])
    idx = _assert_same(x)
    assert int(idx[len(x) - 5]) == 0  # the zero vector: every score ties, lowest index wins
    _assert_same(x[::3].double())


def test_tie_heavy_inputs(icb):
    _tie_heavy(icb, 3)


@pytest.mark.slow
def test_many_tie_heavy_inputs(icb):  # the same families, 3x the rows (pytest -m slow)
    _tie_heavy(icb, 1)


def test_float32_and_float64_agree():
    x = torch.randn(5000, 24)
    assert torch.equal(leech.nearest(x)[0], leech.nearest(x.double())[0])
    assert leech.nearest(x.double())[1].dtype == torch.float64


def test_scale_invariance():
    x = torch.randn(2000, 24)
    assert torch.equal(leech.nearest(x)[0], leech.nearest(x * 1024)[0])


@pytest.mark.parametrize("classes,size", [("A", 1104), ("B", 97152), ("C", 98304), ("A+B", 98256), ("B+C", 195456), ("A+C", 99408)])
def test_subsets(classes, size):
    code = LeechCode(classes)
    assert code.size == size
    icb = code.integer_codebook()
    assert icb.shape == (size, 24)
    assert torch.equal(code.vector_to_index(icb), torch.arange(size))
    x = torch.cat([torch.randn(1500, 24), torch.randint(-2, 3, (500, 24)).float()])  # (tie-heavy integer rows)
    i1, _ = code.nearest(x)
    i2, _ = code.nearest_bruteforce(x)
    assert torch.equal(i1, i2)
    # the winner within the subset is a codeword of the subset
    assert torch.equal(code.vector_to_index(code.index_to_vector(i1, integer=True)), i1)


@pytest.fixture(scope="module")
def mixed_rows():
    """Gaussian, integer and sparse rows scaled to max |x| = 1, with their exact answers."""
    g = torch.Generator().manual_seed(7)
    sparse = torch.zeros(20, 24)
    sparse[torch.arange(20), torch.randint(0, 24, (20,), generator=g)] = 1.0
    sparse[torch.arange(20), torch.randint(0, 24, (20,), generator=g)] = -0.5
    x = torch.cat([torch.randn(40, 24, generator=g), torch.randint(-2, 3, (40, 24), generator=g).float(), sparse]).double()
    x = x / x.abs().amax(-1, keepdim=True)
    return x, leech.nearest_bruteforce(x)[0]


@pytest.mark.parametrize("k", [-1000, -300, 300, 1000, 1023])
def test_exact_at_extreme_float64_scales(mixed_rows, k):
    x, ref = mixed_rows
    xs = x * 2.0**k  # exact power-of-two scaling: the answers cannot change (1e-301 ... 9e307)
    assert torch.equal(leech.nearest(xs)[0], ref) and torch.equal(leech.nearest_bruteforce(xs)[0], ref)


def test_exact_on_float64_subnormals(mixed_rows):
    xs = mixed_rows[0] * 2.0**-1070  # subnormal: rounded, so compare at the same values
    assert (xs.abs() < 2.0**-1022).all() and torch.equal(leech.nearest(xs)[0], leech.nearest_bruteforce(xs)[0])


@pytest.mark.parametrize("scale", [1e-300, 1e-200, 1e200, 1e300, 1.7e308])
def test_exact_at_decimal_float64_scales(mixed_rows, scale):
    xs = mixed_rows[0] * scale  # rounded scaling: compare with the reference at the same values
    assert torch.equal(leech.nearest(xs)[0], leech.nearest_bruteforce(xs)[0])


@pytest.mark.parametrize("scale", [1e-44, 1e-40, 1e-38, 1e30, 1e38, 3.4e38])
def test_exact_at_extreme_float32_scales_and_subnormals(mixed_rows, scale):
    xs = (mixed_rows[0] * scale).float()  # subnormal float32 below 1.2e-38
    assert torch.isfinite(xs).all()
    assert torch.equal(leech.nearest(xs)[0], leech.nearest_bruteforce(xs)[0])


def test_half_precision_inputs_and_zero_rows(mixed_rows):
    x = mixed_rows[0]
    for dt in (torch.float16, torch.bfloat16):
        xl = x.to(dt)
        idx, codes = leech.nearest(xl)
        assert torch.equal(idx, leech.nearest_bruteforce(xl.double())[0]) and codes.dtype == dt
    z = torch.zeros(3, 24)
    assert leech.nearest(z)[0].tolist() == [0, 0, 0]  # every score ties at 0: the lowest index


def test_full_precision_matmul_whatever_the_global_setting(mixed_rows):
    x, ref = mixed_rows
    prev = torch.get_float32_matmul_precision()
    try:
        torch.set_float32_matmul_precision("medium")  # allows TF32 on CUDA, bf16 passes on CPU
        assert torch.equal(leech.nearest(x.float())[0], ref)
        assert torch.get_float32_matmul_precision() == "medium"  # restored after the call
    finally:
        torch.set_float32_matmul_precision(prev)


def test_prepared_gpu_check_runs_and_passes_on_cpu(tmp_path, capsys):
    """benchmarks/check_leech_gpu.py is what a session with a GPU runs in one go; keep it working
    (here on the CPU, tiny sizes): every family exact under both matmul settings, a table, JSON."""
    import importlib.util
    import json

    from repo_paths import REPO

    spec = importlib.util.spec_from_file_location("check_leech_gpu", REPO / "benchmarks" / "check_leech_gpu.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    out = tmp_path / "gpu.json"
    assert mod.main(["--device", "cpu", "--rows", "16", "--batches", "256", "--repeats", "1", "--json", str(out)]) == 0
    res = json.loads(out.read_text())
    assert {e["setting"] for e in res["exactness"]} == {"default", "tf32"} and len(res["exactness"]) == 22
    assert all(e["mismatches"] == 0 for e in res["exactness"])
    assert res["throughput"][0]["batch"] == 256 and res["throughput"][0]["fp32_wrong"] >= 0
    assert "| 256 |" in capsys.readouterr().out


def test_the_lattice_modules_import_without_a_cycle():
    """leech_tables is a leaf (golay only): leech, leech_ties and kernels read it, and none of
    them imports leech back (the circle code <-> kernels <-> leech <-> leech_ties is gone)."""
    import ast
    from pathlib import Path

    import npq.lattices as L

    root = Path(L.__file__).parent

    def deps(name):
        out = set()
        for node in ast.walk(ast.parse((root / f"{name}.py").read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                out |= {node.module} if node.module else {a.name for a in node.names}
        return out

    assert deps("leech_tables") == {"golay"}
    for m in ("kernels", "leech_ties", "code", "exact"):
        assert "leech" not in deps(m), m
