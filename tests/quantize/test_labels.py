"""Label schemes of the generator heads: exact label <-> index round trips over every code, labels
computed exactly (not by truncating float products), and any labels map back to a valid code."""

import math

import numpy as np
import pytest
import torch

from npq.lattices.leech import index_to_vector
from npq.quantize import make


def test_leech_coordinates_round_trip_every_codeword_exactly():
    s = make("leech").label_schemes()["coordinates"]
    assert s.sizes == (9,) * 24
    idx = torch.arange(196560)
    lab = s.to_labels(idx)
    assert lab.shape == (196560, 24) and int(lab.min()) == 0 and int(lab.max()) == 8
    assert torch.equal(s.to_indices(lab), idx)
    # the pitfall: truncating float32 products mislabels every +-1 of class C
    v = index_to_vector(idx)  # unit float32
    naive = (v * math.sqrt(32)).long() + 4
    assert not torch.equal(naive, lab)
    exact = (v.double() * math.sqrt(32)).round().long() + 4
    assert torch.equal(exact, lab)


def test_any_coordinate_labels_decode_to_the_nearest_valid_codeword():
    s = make("leech").label_schemes()["coordinates"]
    g = torch.Generator().manual_seed(0)
    lab = torch.randint(0, 9, (120, 24), generator=g)
    idx = s.to_indices(lab)
    assert idx.shape == (120,) and int(idx.min()) >= 0 and int(idx.max()) < 196560
    cb = index_to_vector(torch.arange(196560), integer=True)  # exact integer codewords (squared norm 32)
    scores = (lab - 4) @ cb.T  # exact integer inner products
    best = scores.max(1, keepdim=True).values
    want = (scores == best).long().argmax(1)  # brute force, the lowest index among exact ties (npq's rule)
    assert torch.equal(idx, want)


@pytest.mark.parametrize("name, kw, scheme", [("bsq", {"dim": 18}, "bits"), ("lfq", {"dim": 10}, "bits"),
                                              ("fsq", {"levels": [8, 5, 5, 5]}, "levels"), ("fsq", {"bits": 16}, "levels")])
def test_bitwise_and_level_labels_round_trip_every_code(name, kw, scheme):
    q = make(name, **kw)
    s = q.label_schemes()[scheme]
    idx = torch.arange(q.codebook_size)
    lab = s.to_labels(idx)
    assert lab.shape == (q.codebook_size, len(s.sizes)) and math.prod(s.sizes) == q.codebook_size
    assert torch.equal(s.to_indices(lab), idx)
    assert bool((lab < torch.tensor(s.sizes)).all()) and int(lab.min()) == 0
    # the labels are the code's own coordinates: decode(index) is a function of the labels
    if scheme == "bits":
        assert torch.equal(lab[:5], (q.decode(idx[:5]) > 0).long())
    else:
        digits = np.array(lab[:7])
        codes = q.decode(idx[:7]).numpy()
        hw = np.floor(np.array(q.levels) / 2)
        assert np.allclose(codes, (digits - hw) / hw)


def test_every_quantizer_has_the_index_scheme():
    for name, kw in (("leech", {}), ("e8-sq", {}), ("vq", {"dim": 4, "codebook_size": 16}), ("rpvq", {"dim": 8, "codebook_size": 64})):
        s = make(name, **kw).label_schemes()["index"]
        i = torch.arange(5)
        assert s.sizes == (make(name, **kw).codebook_size,) and torch.equal(s.to_indices(s.to_labels(i)), i)
