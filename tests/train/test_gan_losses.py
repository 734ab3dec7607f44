"""GAN losses against values computed by hand (independent arithmetic, not the same formula)."""

import math

import pytest
import torch

from npq.losses import adaptive_weight, d_loss, g_loss, lecam_penalty, r1_penalty

REAL = torch.tensor([2.0, -0.5])
FAKE = torch.tensor([0.5, -3.0])


def _softplus(v: float) -> float:
    return math.log1p(math.exp(v))


def test_hinge_losses_by_hand():
    # D: mean(relu(1 - [2, -0.5])) + mean(relu(1 + [0.5, -3])) = mean(0, 1.5) + mean(1.5, 0) = 0.75 + 0.75
    assert float(d_loss(REAL, FAKE, "hinge")) == pytest.approx(1.5)
    # G: -mean([0.5, -3]) = 1.25
    assert float(g_loss(FAKE, "hinge")) == pytest.approx(1.25)


def test_non_saturating_losses_by_hand():
    want_d = (_softplus(-2.0) + _softplus(0.5)) / 2 + (_softplus(0.5) + _softplus(-3.0)) / 2
    assert float(d_loss(REAL, FAKE, "non-saturating")) == pytest.approx(want_d)
    want_g = (_softplus(-0.5) + _softplus(3.0)) / 2
    assert float(g_loss(FAKE, "non-saturating")) == pytest.approx(want_g)
    with pytest.raises(ValueError, match="gan loss"):
        g_loss(FAKE, "wgan")


def test_r1_penalty_of_a_quadratic_discriminator():
    # D(x) = sum(w * x^2) per sample: grad = 2 w x, ||grad||^2 = 4 sum(w^2 x^2)
    w = torch.tensor([1.0, -2.0, 0.5])
    x = torch.tensor([[1.0, 2.0, -2.0], [0.0, 1.0, 4.0]], requires_grad=True)
    logits = (w * x**2).sum(1)
    per = [4 * (1 * 1 + 4 * 4 + 0.25 * 4), 4 * (0 + 4 * 1 + 0.25 * 16)]  # 4 * 18, 4 * 8
    assert float(r1_penalty(logits, x)) == pytest.approx(sum(per) / 2)


def test_lecam_penalty_by_hand():
    # mean((D(x) - ema_fake)^2) + mean((D(x̂) - ema_real)^2) with ema_real = 1, ema_fake = -1
    want = ((3.0**2 + 0.5**2) / 2) + ((-0.5) ** 2 + (-4.0) ** 2) / 2
    assert float(lecam_penalty(REAL, FAKE, torch.tensor(1.0), torch.tensor(-1.0))) == pytest.approx(want)


def test_adaptive_weight_by_hand():
    # last layer w (2 values); rec = sum(3 w) -> grad (3, 3); gan = sum(w^2) at w = (1, 2) -> grad (2, 4)
    w = torch.tensor([1.0, 2.0], requires_grad=True)
    rec, gan = (3 * w).sum(), (w**2).sum()
    want = math.sqrt(18) / (math.sqrt(20) + 1e-4)
    assert float(adaptive_weight(rec, gan, w)) == pytest.approx(want)
    assert float(adaptive_weight(rec * 1e9, gan, w)) == 1e4  # clamped at max_weight


def test_effnet_perceptual_loss_is_differentiable_and_zero_at_identity():
    from npq.losses import PerceptualLoss

    loss = PerceptualLoss("effnet-lite0")
    x = torch.rand(2, 3, 32, 32, generator=torch.Generator().manual_seed(0)) * 2 - 1
    y = (x + 0.3 * torch.randn(x.shape, generator=torch.Generator().manual_seed(1))).clamp(-1, 1).requires_grad_(True)
    assert float(loss(x, x)) == 0.0
    v = loss(x, y)
    v.backward()
    assert float(v) > 0 and y.grad is not None and float(y.grad.abs().sum()) > 0
    assert not any(p.requires_grad for p in loss.parameters())  # frozen network
