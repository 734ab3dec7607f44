"""The extended Golay code, checked against its published invariants."""

import itertools

import numpy as np

from npq.lattices import golay


def test_weight_enumerator():
    assert golay.weight_enumerator() == {0: 1, 8: 759, 12: 2576, 16: 759, 24: 1}


def test_linear_systematic_and_self_dual():
    g = golay.generator_matrix()
    assert g.shape == (12, 24) and np.array_equal(g[:, :12], np.eye(12, dtype=np.uint8))
    cw = golay.codewords().astype(np.int64)
    assert len({row.tobytes() for row in cw}) == 4096
    # self-dual: every pair of generator rows is orthogonal over GF(2)
    assert not ((g.astype(np.int64) @ g.T.astype(np.int64)) % 2).any()
    # closed under addition (sample)
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 4096, 200), rng.integers(0, 4096, 200)
    s = (cw[a] + cw[b]) % 2
    assert np.array_equal(s, cw[golay.info_to_codeword_index(s[:, :12])])


def test_octads_form_a_steiner_system_s_5_8_24():
    oct_ = golay.octads()
    assert oct_.shape == (759, 8)
    # every 5-subset of the 24 coordinates lies in exactly one octad
    seen = set()
    for row in oct_:
        for sub in itertools.combinations(row.tolist(), 5):
            seen.add(sub)
    assert len(seen) == 759 * 56 == 42504  # = C(24, 5)
    assert np.array_equal(golay.codewords()[np.flatnonzero(golay.octad_of_codeword() >= 0)].sum(1), np.full(759, 8))
