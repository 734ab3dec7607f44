"""The fused numba kernels against the pure-torch reference path (bit for bit) and brute force."""

import numpy as np
import pytest
import torch

from npq.lattices import kernels, make_code
from npq.lattices.leech import LeechCode

CODES = ["a2", "a3", "d4", "d5", "e6", "e7", "e8", "k12", "lambda16", "leech"]


def test_numba_is_available():
    assert kernels.HAVE_NUMBA, "numba is a dependency; without it the slower torch path serves"
    assert kernels.enabled(torch.zeros(1))


def _families(code, n: int = 600) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(3)
    d = code.dim
    cb = code.codebook(torch.float32)
    i = torch.randint(0, code.size, (n,), generator=g)
    j = torch.randint(0, code.size, (n,), generator=g)
    sparse = (torch.rand(n, d, generator=g) < 0.15).float() * (2 * torch.randint(0, 2, (n, d), generator=g) - 1)
    gauss = torch.randn(n, d, generator=g)
    return {
        "gaussian": gauss,
        "gaussian64": gauss.double(),
        "integers": torch.randint(-2, 3, (n, d), generator=g).float(),
        "sparse": sparse,
        "midpoints": (cb[i] + cb[j]) / 2,
        "codewords": cb[i],
        "huge32": gauss.clamp(-1, 1) * 3e38,
        "subnormal32": gauss * 1e-43,
        "huge64": gauss.double() * 1e307,
        "zeros": torch.zeros(4, d),
    }


@pytest.mark.parametrize("name", CODES)
def test_kernel_matches_torch_path(name, monkeypatch):
    code = LeechCode() if name == "leech" else make_code(name)
    for fam, x in _families(code, 300 if name == "leech" else 600).items():
        monkeypatch.setenv("NPQ_KERNELS", "")
        fused = code.nearest(x)[0]
        monkeypatch.setenv("NPQ_KERNELS", "torch")
        ref = code.nearest(x)[0]
        assert torch.equal(fused, ref), f"{name} {fam}: {(fused != ref).sum()} rows differ"


@pytest.mark.parametrize("name", ["a2", "k12", "lambda16", "leech"])
def test_kernel_matches_bruteforce(name):
    code = LeechCode() if name == "leech" else make_code(name)
    fams = _families(code, 200)
    x = torch.cat([fams[k].float() for k in ("gaussian", "integers", "sparse", "midpoints")])
    if name == "leech":
        truth = code._bruteforce(x)
    else:
        from npq.lattices.exact import exact_argmax
        from npq.lattices.shells import float64_argmax

        integer = hasattr(code, "_integer_codebook")
        truth = exact_argmax(x, code._integer_codebook()) if integer else float64_argmax(x.double(), code._points)
    assert torch.equal(code.nearest(x)[0], truth)


def test_thread_split_gives_the_same_answer():
    code = LeechCode()
    x = torch.randn(3000, 24, generator=torch.Generator().manual_seed(5))
    prev = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = code.nearest(x)[0]
        torch.set_num_threads(3)  # 3 row blocks of 1,000
        three = code.nearest(x)[0]
    finally:
        torch.set_num_threads(prev)
    assert torch.equal(one, three)


def test_full_leech_lattice_kernel_matches_torch_path(monkeypatch):
    from npq.lattices.densest import nearest_leech

    g = torch.Generator().manual_seed(11)
    xs = {"gaussian": 4 * torch.randn(400, 24, generator=g, dtype=torch.float64),
          "integers": torch.randint(-3, 4, (400, 24), generator=g).double(),  # many exact ties
          "halves": torch.randint(-6, 7, (400, 24), generator=g).double() / 2}
    for fam, x in xs.items():
        monkeypatch.setenv("NPQ_KERNELS", "")
        fused = nearest_leech(x)
        monkeypatch.setenv("NPQ_KERNELS", "torch")
        ref = nearest_leech(x)
        assert torch.equal(fused, ref), f"{fam}: {(fused != ref).any(1).sum()} rows differ"



def test_best_octad_signs_against_enumeration():
    """The O(8) rule for the lowest best sign pattern of an octad (zeros, ties of the smallest
    |x|, odd parity) against scoring all 128 patterns exactly (small integers and halves)."""
    from npq.lattices.kernels import _best_octad_signs

    def enumerate_all(xs, pos):
        best, arg = -np.inf, 0
        for k in range(128):
            bits = [(k >> t) & 1 for t in range(7)]
            bits.append(sum(bits) % 2)
            v = sum(-xs[pos[t]] if b else xs[pos[t]] for t, b in enumerate(bits))
            if v > best:
                best, arg = v, k
        return arg

    rng = np.random.default_rng(3)
    for it in range(1500):
        xs = rng.integers(-2, 3, 12).astype(np.float64) * (0.5 if it % 2 else 1.0)
        pos = rng.permutation(12)[:8]
        assert _best_octad_signs(xs, pos) == enumerate_all(xs, pos), (xs[pos], it)


def test_run_rows_covers_every_row_once_and_the_caller_runs_the_last_part():
    import threading

    from npq.lattices.kernels import run_rows

    def kernel(x, bias, out, who):
        out[:] = x + bias
        who[:] = threading.get_ident()

    x = np.arange(10, dtype=np.float64)
    prev = torch.get_num_threads()
    try:
        torch.set_num_threads(3)
        out, who = np.zeros(10), np.zeros(10, dtype=np.int64)
        run_rows(kernel, x, 1.0, outs=(out, who), min_rows=3)  # 3 parts: 0-2, 3-5, 6-9
        assert np.array_equal(out, x + 1)
        me = threading.get_ident()  # the first two parts ran in pool threads, the last here
        assert who[0] != me and who[3] != me and (who[6:] == me).all()
        run_rows(kernel, x, 2.0, outs=(out, who), min_rows=6)  # below 2 x min_rows: one part, this thread
        assert np.array_equal(out, x + 2) and (who == threading.get_ident()).all()
    finally:
        torch.set_num_threads(prev)

    def failing(x, out):
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        run_rows(failing, x, outs=(np.zeros(10),), min_rows=1)


@pytest.mark.parametrize("name", ["e6", "e7", "k12", "a3", "e8"])
def test_shell_kernels_split_over_threads_give_the_same_answer(name):
    code = make_code(name)
    x = torch.randn(50_000, code.dim, generator=torch.Generator().manual_seed(7))  # >= 3 x each of these codes' min_rows
    prev = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = code.nearest(x)[0]
        torch.set_num_threads(3)
        three = code.nearest(x)[0]
    finally:
        torch.set_num_threads(prev)
    assert torch.equal(one, three)


@pytest.mark.parametrize("name", ["e6", "k12"])
def test_generic_certified_table_kernel_matches_the_reference(name, monkeypatch):
    """A table code without a structured kernel (a user's own CertifiedTableCode) goes through the
    certified float32 table kernel: same indices as the float64 reference and as the torch path."""
    from npq.lattices.shells import CertifiedTableCode, float64_argmax

    code = CertifiedTableCode(make_code(name).codebook(torch.float64), "generic table")
    for fam, x in _families(code, 400).items():
        monkeypatch.setenv("NPQ_KERNELS", "")
        fused = code.nearest(x)[0]
        assert torch.equal(fused, float64_argmax(x.double(), code.codebook(torch.float64))), fam
        monkeypatch.setenv("NPQ_KERNELS", "torch")
        assert torch.equal(fused, code.nearest(x)[0]), fam


@pytest.mark.parametrize("classes", ["ABC", "A", "B", "C", "A+C", "B+C"])
def test_leech_codeword_construction_matches_torch(classes, monkeypatch):
    """Every index of every class subset: the fused construction of the codewords equals the torch one."""
    code = LeechCode(classes)
    idx = torch.arange(code.size)
    monkeypatch.setenv("NPQ_KERNELS", "")
    fused = code.index_to_vector(idx, integer=True)
    monkeypatch.setenv("NPQ_KERNELS", "torch")
    assert torch.equal(fused, code.index_to_vector(idx, integer=True))


@pytest.mark.parametrize("name", ["a2", "d4", "e8", "k12"])
def test_codes_are_the_codewords_of_the_indices(name):
    """``nearest``'s codes (a numpy gather from a cached table on CPU) are ``index_to_vector`` of
    its indices bit for bit, in the input's dtype and shape."""
    code = make_code(name)
    x = torch.randn(3, 5, code.dim, generator=torch.Generator().manual_seed(2))
    for dt in (torch.float32, torch.float64, torch.bfloat16):
        idx, codes = code.nearest(x.to(dt))
        assert codes.dtype == dt and codes.shape == x.shape and idx.shape == x.shape[:-1]
        assert torch.equal(codes, code.index_to_vector(idx, dt))


def test_full_precision_matmul_is_thread_safe_and_restores_the_users_setting():
    """Overlapping blocks in two threads (the decoders run in threads): A enters, B enters, A
    leaves while B is still inside. B must still compute at "highest" and, when both have left,
    the user's setting must be back (the old save/restore per block left B at the user's
    setting and the process at "highest")."""
    import threading

    import torch

    from npq.lattices.exact import full_precision_matmul

    a_in, b_in, a_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def a():
        with full_precision_matmul():
            a_in.set()
            b_in.wait(5)
        a_out.set()

    def b():
        a_in.wait(5)
        with full_precision_matmul():
            b_in.set()
            a_out.wait(5)
            seen["b_after_a_left"] = torch.get_float32_matmul_precision()

    torch.set_float32_matmul_precision("high")
    try:
        ts = [threading.Thread(target=a), threading.Thread(target=b)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        assert seen["b_after_a_left"] == "highest"
        assert torch.get_float32_matmul_precision() == "high"
    finally:
        torch.set_float32_matmul_precision("highest")
    with full_precision_matmul():  # at the default, nothing is written
        assert torch.get_float32_matmul_precision() == "highest"
