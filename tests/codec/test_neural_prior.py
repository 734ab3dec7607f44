"""The integer neural prior: exact round trips (one plane and residual stages), integer logits
that do not depend on the batch or on the arithmetic used (float64 BLAS vs torch int64), the
exported network equal to its fake-quantized float twin, files that load without surprises."""

import numpy as np
import pytest
import torch

from npq.codec import load_prior
from npq.codec.priors.neural import LO, NeuralPrior
from npq.codec.priors.neural_training import FloatNet, cell_table, train_neural_prior
from npq.codec.priors.wavefront import waves


def _grids(rng, n, h, w, stages=0, noise=0.2, n_codes=196560):
    shape = (n, h, w) + ((stages,) if stages else ())
    base = rng.integers(0, n_codes, size=(n, h // 4 + 1, w // 4 + 1) + shape[3:])
    g = base.repeat(4, 1).repeat(4, 2)[:, :h, :w].copy()
    m = rng.random(g.shape) < noise
    g[m] = rng.integers(0, n_codes, size=m.sum())
    return g


@pytest.fixture(scope="module")
def trained():
    torch.set_num_threads(1)
    grids = _grids(np.random.default_rng(0), 48, 16, 16, stages=2)
    prior, hist = train_neural_prior(grids, 196560, steps=150, qat_steps=30, batch=512, d=8, hidden=32, progress=False)
    return prior, hist


def test_waves_put_every_neighbour_of_the_prior_on_an_earlier_wave(trained):
    prior = trained[0]
    h, w = 9, 13
    order = {(i, j): k for k, (rows, cols) in enumerate(waves(h, w)) for i, j in zip(rows.tolist(), cols.tolist())}
    assert sorted(order) == [(i, j) for i in range(h) for j in range(w)]
    for (i, j), k in order.items():
        for di, dj in prior.offsets:
            if (i + di, j + dj) in order:
                assert order[(i + di, j + dj)] < k


@pytest.mark.parametrize("shape", [(1, 1), (1, 17), (13, 1), (24, 40)])
def test_round_trips_and_code_length(trained, shape):
    prior = trained[0]
    g = _grids(np.random.default_rng(1), 1, *shape)[0]
    data = prior.encode(g)
    assert np.array_equal(prior.decode(data, shape), g)
    assert len(data) * 8 <= prior.bits(g) + 64


def test_it_learns(trained):
    prior, hist = trained
    g = _grids(np.random.default_rng(2), 1, 32, 32)[0]
    assert prior.bits(g) / g.size < 0.6 * np.log2(196560)
    assert np.mean(hist[-20:]) < np.mean(hist[:5]) - 0.4


def test_residual_stages_round_trip_in_one_stream_conditioned_on_the_previous_stage(trained):
    prior = trained[0]
    rng = np.random.default_rng(3)
    g = _grids(rng, 1, 12, 20, stages=3)[0]  # more stages than networks: the last network repeats
    data = prior.encode_stages(g)
    assert np.array_equal(prior.decode_stages(data, g.shape[:2], 3), g)
    assert len(data) * 8 <= prior.bits(g) + 64
    # stage 2 really reads stage 1: a copy of stage 1 costs less than an unrelated plane
    copy = g.copy()
    copy[..., 1] = copy[..., 0]
    assert prior.bits(copy[..., :2]) < prior.bits(g[..., :2])
    with pytest.raises(ValueError):
        prior.decode_stages(data[:-8], g.shape[:2], 3)
    alone = NeuralPrior(196560, prior.nets[:1])  # one network: every stage coded on its own
    assert np.array_equal(alone.decode_stages(alone.encode_stages(g), g.shape[:2], 3), g)


def _torch_logits(net, tokens, ctx, hi):
    """The integer network recomputed with torch int64 matmuls (another arithmetic path)."""
    a = {k: torch.from_numpy(v.astype(np.int64)) for k, v in net.arrays.items()}
    s = net.shifts

    def sh(v, r):
        return v << -r if r <= 0 else (v + (1 << (r - 1))) >> r

    t = torch.from_numpy(tokens)
    x = (a["emb_hi"][torch.where(t >= 0, t // LO, net.n_hi)] + a["emb_lo"][torch.where(t >= 0, t % LO, LO)]).reshape(len(t), -1)
    a1 = sh(x @ a["w1"] + a["b1"] + a["ctx"][torch.from_numpy(ctx)], s["r1"]).clamp(0, 127)
    p2 = a1 @ a["w2"] + a["b2"]
    a2 = sh(p2, s["r2"]).clamp(0, 127)
    a3 = sh(p2 + a["hi_gate"][torch.from_numpy(hi)], s["r2"]).clamp(0, 127)
    return [sh(a2 @ a["w_mode"] + a["b_mode"], s["r_mode"]), sh(a2 @ a["w_hi"] + a["b_hi"], s["r_hi"]),
            sh(a3 @ a["w_lo"] + a["b_lo"], s["r_lo"])]


def test_integer_logits_do_not_depend_on_batch_or_arithmetic(trained):
    prior = trained[0]
    net = prior.nets[1]
    tab = cell_table(_grids(np.random.default_rng(4), 2, 16, 16, stages=2), stage=1)
    tokens, ctx, hi = tab["tokens"], tab["ctx"], tab["tok"] // LO

    def numpy_logits(sl):
        p2, a2 = net.hidden_state(tokens[sl], ctx[sl])
        return [net.mode_logits(a2), net.hi_logits(a2), net.lo_logits(p2, hi[sl])]

    whole = numpy_logits(slice(None))
    parts = [numpy_logits(slice(i, i + 37)) for i in range(0, len(tokens), 37)]
    for k in range(3):
        assert np.array_equal(whole[k], np.concatenate([p[k] for p in parts]))
        assert np.array_equal(whole[k], _torch_logits(net, tokens, ctx, hi)[k].numpy())
    assert np.abs(whole[1]).max() > 16  # not trivially zero


def test_export_equals_the_fake_quantized_float_network():
    """Quantization-aware training computes what the integer network computes (float64 twin,
    logits in 1/16 nat: equal up to the float rounding of exact ties)."""
    rng = np.random.default_rng(5)
    tab = cell_table(_grids(rng, 4, 16, 16))
    torch.manual_seed(0)
    net = FloatNet(384, 10, d=8, hidden=32).double()
    for p in net.parameters():
        p.data.normal_(0, 0.3)
    t = {k: torch.from_numpy(v) for k, v in tab.items()}
    net.calibrate(t["tokens"], t["ctx"])
    inet = net.export()
    with torch.no_grad():
        p2, a2 = net.trunk(t["tokens"], t["ctx"])
        float_hi = net.head("w_hi", net.hi, a2) * 16
    ip2, ia2 = inet.hidden_state(tab["tokens"], tab["ctx"])
    assert np.array_equal(ia2, (a2 * 2.0 ** net.scales["a2"]).round().numpy().astype(np.int64))
    diff = np.abs(inet.hi_logits(ia2) - float_hi.numpy())
    assert diff.max() <= 0.5 + 1e-6


def test_files_round_trip_and_forged_files_are_refused(trained, tmp_path):
    prior = trained[0]
    prior.save(tmp_path / "p.safetensors")
    back = load_prior(tmp_path / "p.safetensors")
    assert isinstance(back, NeuralPrior) and back.fingerprint() == prior.fingerprint()
    g = _grids(np.random.default_rng(6), 1, 10, 10, stages=2)[0]
    assert np.array_equal(back.decode_stages(prior.encode_stages(g), (10, 10), 2), g)
    st = prior.state()
    st["nets"]["0"]["w1"] = st["nets"]["0"]["w1"].to(torch.int32)  # wrong dtype
    with pytest.raises(ValueError, match="int8"):
        NeuralPrior.from_state(st)
    st = prior.state()
    st["nets"]["1"]["w_lo"] = st["nets"]["1"]["w_lo"][:, :5]  # wrong shape
    with pytest.raises(ValueError, match="shapes"):
        NeuralPrior.from_state(st)
    st = prior.state()
    st["config"]["offsets"][4] = [0, 1]  # a cell that is not decoded yet
    with pytest.raises(ValueError, match="earlier wave"):
        NeuralPrior.from_state(st)


@pytest.mark.parametrize("n_codes", [2, 512, 513, 1 << 18])
def test_any_codebook_size_round_trips(n_codes):
    rng = np.random.default_rng(n_codes)
    grids = rng.integers(0, n_codes, size=(6, 8, 8))
    grids[:, :, 1::2] = grids[:, :, ::2]
    p, _ = train_neural_prior(grids[:4], n_codes, steps=5, qat_steps=2, batch=64, d=4, hidden=8, progress=False)
    for g in grids[4:]:
        assert np.array_equal(p.decode(p.encode(g), g.shape), g)


def test_the_exp_table_is_exactly_rounded():
    """The integer exp table behind every portable probability, against exact decimal arithmetic
    (an independent truth: a libm that rounded one entry differently would be caught here)."""
    from decimal import Decimal, getcontext

    from npq.codec.entropy_coding import _EXP_TABLE, LOGIT_SCALE

    getcontext().prec = 50
    for k, v in enumerate(_EXP_TABLE.tolist()):
        exact = Decimal(1 << 20) * (Decimal(-k) / LOGIT_SCALE).exp()
        want = max(1, int((exact + Decimal("0.5")).to_integral_value(rounding="ROUND_FLOOR")))
        assert v == want, k
        assert abs(exact - int(exact) - Decimal("0.5")) > Decimal("1e-6") or exact < 1  # no entry near a rounding tie


def test_products_stay_exact_when_the_weights_could_overflow_float32():
    """A network whose partial sums could pass 2^24 (1,100 hidden units of +-127 weights) takes
    float64 products in those layers and float32 elsewhere: the logits are still the exact
    integers (checked against torch int64)."""
    from npq.codec.priors.neural import IntegerNet
    from npq.codec.priors.wavefront import MODES, N_MODE_CONTEXTS

    rng = np.random.default_rng(7)
    d, n_in, hidden, n_hi = 4, 10, 1100, 384

    def i8(*shape):
        return rng.choice(np.array([-127, 127], dtype=np.int8), size=shape)

    def i32(*shape):
        return rng.integers(-(2**20), 2**20, size=shape).astype(np.int32)

    arrays = {"emb_hi": i8(n_hi + 1, d), "emb_lo": i8(LO + 1, d), "w1": i8(n_in * d, hidden), "b1": i32(hidden),
              "ctx": i32(N_MODE_CONTEXTS, hidden), "w2": i8(hidden, hidden), "b2": i32(hidden), "hi_gate": i32(n_hi, hidden),
              "w_mode": i8(hidden, MODES), "b_mode": i32(MODES), "w_hi": i8(hidden, n_hi), "b_hi": i32(n_hi),
              "w_lo": i8(hidden, LO), "b_lo": i32(LO)}
    big = IntegerNet(arrays, {"r1": 10, "r2": 12, "r_mode": 8, "r_hi": 8, "r_lo": 8})
    assert big._f["w1"].dtype == np.float32 and big._f["w2"].dtype == np.float64 and big._f["w_lo"].dtype == np.float64
    tab = cell_table(_grids(np.random.default_rng(8), 1, 12, 12))
    hi = tab["tok"] // LO
    p2, a2 = big.hidden_state(tab["tokens"], tab["ctx"])
    assert 0 < a2.mean() < 127  # the activations are not all clipped
    ref = _torch_logits(big, tab["tokens"], tab["ctx"], hi)
    for mine, theirs in zip((big.mode_logits(a2), big.hi_logits(a2), big.lo_logits(p2, hi)), ref):
        assert np.array_equal(mine, theirs.numpy())
