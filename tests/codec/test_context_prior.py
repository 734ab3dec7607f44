"""The portable context prior: exact round trips, wavefront order, bits close to the ideal code
length (files decoding in other processes and arithmetic: tests/codec/test_portability.py)."""

import numpy as np
import pytest

from npq.codec.priors.context import ContextPrior
from npq.codec.priors.wavefront import waves as _waves


def _grids(rng, n, h, w, noise=0.2):
    out = []
    for _ in range(n):
        base = rng.integers(0, 196560, size=(h // 4 + 1, w // 4 + 1))
        g = np.kron(base, np.ones((4, 4), dtype=np.int64))[:h, :w].copy()
        m = rng.random((h, w)) < noise
        g[m] = rng.integers(0, 196560, size=m.sum())
        out.append(g)
    return np.stack(out)


@pytest.fixture(scope="module")
def prior():
    return ContextPrior.fit(_grids(np.random.default_rng(0), 100, 32, 32), 196560)


def test_waves_cover_the_grid_once_and_respect_the_neighbourhood():
    for h, w in ((1, 1), (1, 9), (9, 1), (7, 11), (12, 5)):
        order = {}
        for k, (rows, cols) in enumerate(_waves(h, w)):
            for i, j in zip(rows.tolist(), cols.tolist()):
                order[(i, j)] = k
        assert sorted(order) == [(i, j) for i in range(h) for j in range(w)]
        for (i, j), k in order.items():  # left, up, up-left, up-right come on earlier waves
            for di, dj in ((0, -1), (-1, 0), (-1, -1), (-1, 1)):
                if (i + di, j + dj) in order:
                    assert order[(i + di, j + dj)] < k


@pytest.mark.parametrize("shape", [(1, 1), (1, 17), (13, 1), (24, 40)])
def test_round_trips_and_code_length(prior, shape):
    rng = np.random.default_rng(1)
    g = _grids(rng, 1, *shape)[0]
    data = prior.encode(g)
    assert np.array_equal(prior.decode(data, shape), g)
    assert len(data) * 8 <= prior.bits(g) + 64  # within a couple of 32-bit words of the ideal


def test_it_learns_and_beats_the_uniform_prior(prior):
    g = _grids(np.random.default_rng(2), 1, 48, 64)[0]
    assert prior.bits(g) / g.size < 0.5 * np.log2(196560)
    worst = np.random.default_rng(3).integers(0, 196560, size=(16, 16))  # no structure at all
    assert len(prior.encode(worst)) * 8 / worst.size < 1.1 * np.log2(196560)


def test_corrupt_payloads_are_errors_not_garbage(prior):
    g = _grids(np.random.default_rng(5), 1, 16, 16)[0]
    data = bytearray(prior.encode(g))
    with pytest.raises(ValueError):
        prior.decode(bytes(data) + b"\x01\x02\x03\x04" * 2, g.shape)  # words left over


@pytest.mark.parametrize("n_codes", [2, 256, 512, 513, 1 << 18])
def test_any_codebook_size_round_trips(n_codes):
    """Codebooks of at most 512 codes have a single hi value (nothing to code): it used to fail
    with a one-symbol distribution; 2^18 (BSQ/LFQ) has a partial last hi row."""
    rng = np.random.default_rng(n_codes)
    grids = rng.integers(0, n_codes, size=(6, 8, 8))
    grids[:, :, 1::2] = grids[:, :, ::2]  # some repeats for the mode step
    p = ContextPrior.fit(grids[:4], n_codes)
    for g in grids[4:]:
        assert np.array_equal(p.decode(p.encode(g), g.shape), g)
