"""The quantizer protocol, checked on every registered quantizer."""

import math

import pytest
import torch

from npq.quantize import make

CASES = [
    ("lfq", {"dim": 10, "entropy": 0.1}),
    ("bsq", {"dim": 10, "entropy": {"weight": 0.1, "gamma": 1.0}}),
    ("fsq", {"levels": [8, 5, 5, 5]}),
    ("rpvq", {"dim": 16, "codebook_size": 4096, "seed": 3}),
    ("leech", {}),
    ("leech-subset", {"classes": "A+B"}),
    ("e8-sq", {}),
    ("d4-sq", {}),
    ("a2-sq", {}),
    ("a3-sq", {}),
    ("e6-sq", {}),
    ("e7-sq", {}),
    ("k12-sq", {}),
    ("lambda16-sq", {}),
    ("product-sq", {"codes": ["d4", "a2"]}),
    ("fibonacci", {"codebook_size": 500, "dim": 3}),
    ("vq", {"dim": 8, "codebook_size": 64}),
    ("vq", {"dim": 8, "codebook_size": 64, "update": "ema", "distance": "cosine"}),
]
IDS = [c[0] + ("-" + "-".join(f"{v}" for v in c[1].values()) if c[1] else "") for c in CASES]


@pytest.fixture(params=CASES, ids=IDS)
def quantizer(request):
    name, kw = request.param
    return make(name, **kw)


def test_forward_shapes_and_types(quantizer):
    z = torch.randn(3, 5, quantizer.dim)
    out = quantizer(z)
    assert out.z_q.shape == z.shape and out.z_q.dtype == z.dtype
    assert out.indices.shape == (3, 5) and out.indices.dtype == torch.int64
    assert out.loss.ndim == 0
    assert all(not v.requires_grad for v in out.stats.values())
    assert 0 <= int(out.indices.min()) and int(out.indices.max()) < quantizer.codebook_size
    assert quantizer.bits_per_token == pytest.approx(math.log2(quantizer.codebook_size))


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on machines without CUDA")
def test_moving_to_cuda_without_cuda_is_an_error(quantizer):
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        quantizer.to("cuda")
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        quantizer.cuda()
    assert quantizer.to("cpu") is quantizer and quantizer.to(torch.device("cpu"), torch.float32) is quantizer


def test_decode_encode_equals_forward_exactly(quantizer):
    quantizer.eval()  # learnable VQ updates its codebook statistics after a training forward
    z = torch.randn(257, quantizer.dim) * 3
    out = quantizer(z)
    idx = quantizer.encode(z)
    assert torch.equal(idx, out.indices)
    assert torch.equal(quantizer.decode(idx), out.z_q)


def test_straight_through_gradient(quantizer):
    """The quantizer's input gradient equals the gradient of its pre-quantization transform:
    identity for LFQ, the normalization Jacobian for spherical codes, tanh bound for FSQ."""
    z = torch.randn(7, quantizer.dim, dtype=torch.float32, requires_grad=True)
    g = torch.randn(7, quantizer.dim)
    out = quantizer(z)
    (out.z_q * g).sum().backward()
    name = type(quantizer).__name__
    zz = z.detach().clone().requires_grad_(True)
    if name == "LFQ" or (name == "VectorQuantizer" and quantizer.distance == "euclidean"):
        ref = zz
    elif name == "FSQ":
        ref = quantizer.bound(zz) / quantizer._half_width
    else:
        ref = torch.nn.functional.normalize(zz, dim=-1, eps=1e-12)
    (ref * g).sum().backward()
    assert torch.allclose(z.grad, zz.grad, atol=1e-6)


def test_bf16_autocast_quantizes_in_float32(quantizer):
    """Under bf16 autocast the quantization is the float32 one of the same values: the same
    indices and (cast back) the same codes as outside autocast; bf16 input gives bf16 output."""
    quantizer.eval()
    z = torch.randn(64, quantizer.dim).to(torch.bfloat16).float()  # values a bf16 latent can hold
    ref = quantizer(z)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = quantizer(z)
        out_bf = quantizer(z.to(torch.bfloat16))
    assert torch.equal(out.indices, ref.indices) and torch.equal(out.z_q, ref.z_q) and out.z_q.dtype == torch.float32
    assert out_bf.z_q.dtype == torch.bfloat16
    assert torch.equal(out_bf.indices, ref.indices) and torch.equal(out_bf.z_q, ref.z_q.to(torch.bfloat16))


def test_image_helpers(quantizer):
    quantizer.eval()
    x = torch.randn(2, quantizer.dim, 3, 4)
    out = quantizer.forward_image(x)
    assert out.z_q.shape == x.shape and out.indices.shape == (2, 3, 4)
    tokens = quantizer.encode_image(x)
    assert torch.equal(tokens, out.indices)
    assert torch.equal(quantizer.decode_image(tokens), out.z_q)


def test_bad_inputs(quantizer):
    d = quantizer.dim
    with pytest.raises(ValueError, match=r"shape \(\.\.\., %d\)" % d):
        quantizer(torch.randn(4, d + 1))
    z = torch.randn(4, d)
    z[1, 0] = float("nan")
    with pytest.raises(ValueError, match="non-finite"):
        quantizer(z)
    z[1, 0] = float("inf")
    with pytest.raises(ValueError, match="non-finite"):
        quantizer.encode(z)
    with pytest.raises(ValueError, match=r"must lie in \[0, %d\]" % (quantizer.codebook_size - 1)):
        quantizer.decode(torch.tensor([0, quantizer.codebook_size]))
    with pytest.raises(ValueError, match="must lie in"):
        quantizer.decode(torch.tensor([-1]))
    with pytest.raises(ValueError, match="integer tensor"):
        quantizer.decode(torch.tensor([0.5]))
    with pytest.raises(ValueError, match=r"\(b, %d, h, w\)" % d):
        quantizer.forward_image(torch.randn(2, d + 1, 3, 3))
    with pytest.raises(ValueError, match="floating-point"):
        quantizer(torch.zeros(3, d, dtype=torch.int64))


@pytest.mark.parametrize(
    "name,kw,match",
    [
        ("lfq", {"dim": 0}, "dim must be a positive integer"),
        ("lfq", {"dim": 8, "scale": -1.0}, "scale must be"),
        ("bsq", {"dim": 70}, "dim must be <= 62"),
        ("bsq", {"dim": 8, "entropy": {"weight": -1}}, "weight must be"),
        ("bsq", {"dim": 8, "entropy": {"group_size": 40}}, "group_size"),
        ("fsq", {"levels": [8, 2, 5]}, "levels must be ints >= 3"),
        ("fsq", {"bits": 9}, "no FSQ preset"),
        ("fsq", {}, "exactly one of"),
        ("rpvq", {"dim": 8, "codebook_size": 1}, "codebook_size must be >= 2"),
        ("spherical", {"code": "e9"}, "unknown spherical code"),
        ("spherical", {"code": "fibonacci"}, "needs both n"),
        ("leech-subset", {"classes": "D"}, "unknown Leech shape class"),
        ("nope", {}, "unknown quantizer"),
        ("lfq", {"dim": 4, "colour": 1}, "bad arguments for quantizer 'lfq'"),
    ],
)
def test_invalid_constructor_arguments(name, kw, match):
    with pytest.raises(ValueError, match=match):
        make(name, **kw)


def test_scale_invariant_quantizers_keep_their_indices_at_extreme_scales(quantizer):
    """Spherical and sign quantizers depend on the direction of z only: scaling by 2^±120 (exact
    in float32) must not move an index, and z_q stays finite. (The normalization used to overflow
    for float32 rows beyond ~1e19: every such row came back as index 0.)"""
    if quantizer.__class__.__name__ in ("FSQ", "VectorQuantizer"):
        pytest.skip("not scale-invariant")
    z = torch.randn(64, quantizer.dim, generator=torch.Generator().manual_seed(0))
    quantizer.eval()
    ref = quantizer(z).indices
    for k in (120, -120):
        out = quantizer(z * 2.0**k)
        assert torch.equal(out.indices, ref), k
        assert torch.isfinite(out.z_q).all()


def test_l2_normalize_is_f_normalize_on_ordinary_rows_and_safe_beyond():
    import torch.nn.functional as F

    from npq.quantize.base import l2_normalize

    z = torch.randn(500, 24, generator=torch.Generator().manual_seed(1))
    assert torch.equal(l2_normalize(z), F.normalize(z, dim=-1, eps=1e-12))  # bit for bit
    unit = z[:8] / z[:8].abs().amax(-1, keepdim=True)
    for s in (3e38, 1e20, 1e-20, 1e-40, 1.4e-45):
        u = l2_normalize(unit * s)
        assert torch.allclose(u.norm(dim=-1), torch.ones(8), atol=1e-6), s
    assert torch.equal(l2_normalize(torch.zeros(2, 3)), torch.zeros(2, 3))


def test_a_single_vector_and_vector_quantize_pytorch_habits(quantizer):
    """(..., d) includes a single d-vector (it used to fail in reshape); the output unpacks as
    ``z_q, indices, loss`` with ``.stats`` beside; decode's vector-quantize-pytorch names."""
    z = torch.randn(quantizer.dim)
    quantizer.eval()
    zq, idx, loss = quantizer(z)
    assert zq.shape == z.shape and idx.shape == () and idx.dtype == torch.int64 and loss.shape == ()
    assert isinstance(quantizer(z).stats, dict)
    assert torch.equal(quantizer.encode(z), idx)
    assert torch.equal(quantizer.decode(idx), zq) and quantizer.decode(idx).shape == (quantizer.dim,)
    assert torch.equal(quantizer.indices_to_codes(idx), zq) and torch.equal(quantizer.get_output_from_indices(idx), zq)


def test_a_redundant_dim_is_accepted_when_it_matches():
    assert make("leech", dim=24).dim == 24 and make("e8-sq", dim=8).dim == 8
    with pytest.raises(ValueError, match="has dim 24, got dim=16"):
        make("leech", dim=16)
    with pytest.raises(ValueError, match="bad arguments"):
        make("leech", codebook_size=3)
