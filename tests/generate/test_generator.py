"""The generator: the key/value cache gives the same hidden states and the same sampled tokens as
recomputing the whole prefix; every head samples valid tokens (Λ24 coordinates included: any
label vector decodes to a codeword); the losses equal their definitions; guidance, top-k / top-p
and class dropout do what they say; files round-trip and forged ones are refused."""

import math

import pytest
import torch
import torch.nn.functional as F

from npq.generate.heads import _draw, filter_logits
from npq.generate.io import build_from_description, read_generator, save_generator
from npq.generate.model import Generator
from npq.generate.transformer import GeneratorConfig, rope_2d
from npq.quantize import make

CASES = [("leech", {}, "index"), ("leech", {}, "coordinates"), ("bsq", {"dim": 10}, "bits"), ("fsq", {"levels": [5, 4, 3]}, "levels"),
         ("fsq", {"levels": [5, 4, 3]}, "index")]


def _gen(name, kw, head, seed=0, **cfg):
    q = make(name, **kw)
    torch.manual_seed(seed)
    c = GeneratorConfig(**{"width": 32, "depth": 2, "heads": 2, "grid": (3, 4), "num_classes": 5, **cfg})
    return Generator(c, q, head).double().eval(), q


@pytest.mark.parametrize("name,kw,head", CASES)
def test_cached_and_uncached_sampling_give_the_same_tokens(name, kw, head):
    gen, q = _gen(name, kw, head)
    for scale in (1.0, 3.0):
        a = gen.sample([0, 4, 5], scale, top_k=7, top_p=0.9, generator=torch.Generator().manual_seed(3))
        b = gen.sample([0, 4, 5], scale, top_k=7, top_p=0.9, generator=torch.Generator().manual_seed(3), use_cache=False)
        assert a.shape == (3, 3, 4) and torch.equal(a, b)
        assert int(a.min()) >= 0 and int(a.max()) < q.codebook_size


def test_the_cache_reproduces_the_full_forward_position_by_position():
    gen, q = _gen("leech", {}, "coordinates")
    t = q.encode(torch.randn(2, 3, 4, 24, dtype=torch.float64)).reshape(2, 12)
    cls = torch.tensor([1, 2])
    full = gen.trunk(cls, gen._codes(t[:, :-1]))
    cache = gen.trunk.new_cache(2, dtype=torch.float64)
    steps = [gen.trunk(cls, None, cache, 0)] + [gen.trunk(None, gen._codes(t[:, i - 1 : i]), cache, i) for i in range(1, 12)]
    assert torch.allclose(torch.cat(steps, 1), full, atol=1e-10)
    # a multi-position chunk after the prefix (mask: each new position sees the cache and itself)
    cache = gen.trunk.new_cache(2, dtype=torch.float64)
    first = gen.trunk(cls, gen._codes(t[:, :4]), cache, 0)
    rest = gen.trunk(None, gen._codes(t[:, 4:11]), cache, 5)
    assert torch.allclose(torch.cat([first, rest], 1), full, atol=1e-10)


def test_coordinate_head_samples_only_valid_codewords_even_from_random_logits():
    gen, q = _gen("leech", {}, "coordinates")
    with torch.no_grad():
        gen.head.proj.bias.normal_(0, 3)  # a badly calibrated head: label vectors far off the code
    hidden = torch.randn(4000, 32, dtype=torch.float64)
    idx = gen.head.sample(hidden, generator=torch.Generator().manual_seed(0))
    assert int(idx.min()) >= 0 and int(idx.max()) < 196560
    v = q.decode(idx).double() * math.sqrt(32)
    assert torch.allclose(v, v.round(), atol=1e-5) and torch.allclose((v.round() ** 2).sum(-1), torch.full((4000,), 32.0, dtype=torch.float64))


@pytest.mark.parametrize("name,kw,head", CASES)
def test_head_loss_and_nll_match_their_definitions(name, kw, head):
    gen, q = _gen(name, kw, head)
    h = torch.randn(20, 32, dtype=torch.float64)
    t = torch.randint(0, q.codebook_size, (20,))
    logits = gen.head.logits(h)
    labels = gen.head.scheme.to_labels(t)
    per = torch.stack([F.cross_entropy(lg, labels[:, k], reduction="none") for k, lg in enumerate(logits)], 1)
    want_loss = per.mean() if len(logits) > 1 else per[:, 0].mean()
    assert torch.allclose(gen.head.loss(h, t).double(), want_loss, rtol=1e-6)
    assert torch.allclose(gen.head.nll(h, t).double(), per.sum(1).float().double(), rtol=1e-5)


def test_guidance_scale_one_skips_the_unconditional_pass_and_null_class_is_unconditional():
    gen, _ = _gen("bsq", {"dim": 10}, "bits")
    calls = []
    real = gen.trunk.forward
    gen.trunk.forward = lambda cls, *a, **k: (calls.append(None if cls is None else len(cls)), real(cls, *a, **k))[1]
    gen.sample([1, 2], 1.0, generator=torch.Generator().manual_seed(0))
    assert calls[0] == 2
    calls.clear()
    gen.sample([1, 2], 2.5, generator=torch.Generator().manual_seed(0))
    assert calls[0] == 4  # conditional and unconditional rows together
    with pytest.raises(ValueError, match="classes must be"):
        gen.nll(torch.zeros(1, 3, 4, dtype=torch.long), torch.tensor([6]))


def test_class_dropout_replaces_classes_with_the_null_class_in_training_only():
    gen, q = _gen("bsq", {"dim": 10}, "bits", class_dropout=0.999)
    seen = []
    real = gen.trunk.forward
    gen.trunk.forward = lambda cls, *a, **k: (seen.append(cls.clone()), real(cls, *a, **k))[1]
    t = torch.zeros(64, 3, 4, dtype=torch.long)
    gen.train()(t, torch.zeros(64, dtype=torch.long))
    assert (seen[-1] == 5).float().mean() > 0.9
    gen.eval()(t, torch.zeros(64, dtype=torch.long))
    assert (seen[-1] == 0).all()


def test_filter_logits_top_k_and_top_p():
    lg = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    assert torch.isfinite(filter_logits(lg, top_k=2)).tolist() == [[True, True, False, False]]
    assert torch.isfinite(filter_logits(lg, top_p=0.8)).tolist() == [[True, True, False, False]]
    assert torch.isfinite(filter_logits(lg, top_p=0.81)).tolist() == [[True, True, True, False]]
    assert torch.allclose(filter_logits(lg, temperature=2.0), lg / 2)
    with pytest.raises(ValueError):
        filter_logits(lg, temperature=0)


@pytest.mark.parametrize("c", [300, 1900])  # one block; several blocks and a short last one
def test_draws_follow_the_softmax_never_pick_filtered_classes_and_do_not_depend_on_the_batch(c):
    lg = torch.randn(c, generator=torch.Generator().manual_seed(c)) * 2
    lg[c // 3] = lg[-1] = float("-inf")
    n = 100_000
    x = _draw(lg.expand(n, c).contiguous(), torch.Generator().manual_seed(1), block=128)
    p = lg.softmax(-1)
    emp = torch.bincount(x, minlength=c).double() / n
    assert (emp[p == 0] == 0).all()
    # total variation of n draws from p: E ~ sqrt(c / (2 pi n)); a wrong block choice is off by far more
    assert 0.5 * (emp - p.double()).abs().sum() < 1.5 * math.sqrt(c / (2 * math.pi * n))
    rows = torch.randn(6, c, generator=torch.Generator().manual_seed(2))
    both = _draw(rows, torch.Generator().manual_seed(3), block=128)
    one = torch.cat([_draw(rows[i : i + 1], g, block=128) for g in [torch.Generator().manual_seed(3)] for i in range(6)])
    assert torch.equal(both, one)


def test_rope_rotates_rows_and_columns_and_leaves_the_class_position():
    ang = rope_2d((3, 4), 8)
    assert ang.shape == (13, 4) and ang[0].abs().sum() == 0
    assert torch.allclose(ang[1 + 5, :2], torch.tensor([1.0, 0.01]))  # token 5: row 1
    assert torch.allclose(ang[1 + 5, 2:], torch.tensor([1.0, 0.01]))  # column 1


def test_heads_must_be_offered_by_the_quantizer():
    with pytest.raises(ValueError, match="not offered"):
        _gen("fsq", {"levels": [5, 4, 3]}, "coordinates")


def test_generator_files_round_trip_and_forged_ones_are_refused(tmp_path):
    gen, q = _gen("leech", {}, "coordinates")
    gen = gen.float()
    desc = {"transformer": {**gen.cfg.__dict__, "grid": list(gen.cfg.grid)}, "head": "coordinates", "chunk": 1024,
            "classes": list("abcde"), "tokenizer": "x", "grid": [3, 4]}
    save_generator(tmp_path / "g", desc, gen.state_dict(), step=7)
    d, w, step = read_generator(tmp_path / "g")
    assert step == 7 and d["head"] == "coordinates"
    back = build_from_description(d, q, w)
    a = gen.sample([1], 2.0, generator=torch.Generator().manual_seed(0))
    assert torch.equal(a, back.sample([1], 2.0, generator=torch.Generator().manual_seed(0)))
    huge = {**desc, "transformer": {**desc["transformer"], "width": 1 << 20, "heads": 1 << 10}}
    with pytest.raises(ValueError, match="limit|do not fit"):
        build_from_description(huge, q, w)
    with pytest.raises(ValueError, match="do not fit"):
        build_from_description({**desc, "head": "index"}, q, w)
    (tmp_path / "x").mkdir()
    with pytest.raises(FileNotFoundError, match="neither"):
        read_generator(tmp_path / "x")
