"""The authors' released tokenizer (bsq-vit's VITVQModel with the Λ24 codebook) loads into npq's
parity model: a reference written from their architecture (key names, shapes, forward) with
random weights and a shuffled Λ24 codebook is saved as their checkpoints are (DDP / EMA prefixes,
pickled argparse arguments), converted, and must give the same reconstructions and, through the
index map, the same tokens."""

import argparse
from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from npq.cli.main import main
from npq.lattices.leech import index_to_vector
from npq.models.official import from_official, leech_index_map

W, DEPTH, HEADS, P, SIZE = 32, 2, 2, 8, 32
G = SIZE // P


class RefBlock(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln_1 = nn.LayerNorm(W)
        self.attn = nn.MultiheadAttention(W, HEADS)
        self.ln_2 = nn.LayerNorm(W)
        self.mlp = nn.Sequential(OrderedDict(c_fc=nn.Linear(W, 4 * W), gelu=nn.GELU(), c_proj=nn.Linear(4 * W, W)))

    def forward(self, x):  # (L, B, W), pre-norm
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, need_weights=False)[0]
        return x + self.mlp(self.ln_2(x))


class RefTransformer(nn.Module):
    def __init__(self):
        super().__init__()
        self.resblocks = nn.ModuleList(RefBlock() for _ in range(DEPTH))


class RefViT(nn.Module):
    def __init__(self, decoder):
        super().__init__()
        if not decoder:
            self.conv1 = nn.Linear(3 * P * P, W, bias=False)  # bias = not ln_pre
        self.positional_embedding = nn.Parameter(torch.randn(G * G, W) * 0.02)
        self.ln_pre = nn.LayerNorm(W)
        self.transformer = RefTransformer()
        self.ln_post = nn.LayerNorm(W)
        if decoder:
            self.ffn = nn.Sequential(nn.Linear(W, 3072), nn.Tanh())
            self.conv_out = nn.Linear(3072, 3 * P * P)
        for p in self.parameters():  # non-trivial norms and biases
            if p.ndim == 1:
                p.data.normal_(0.5 if p is getattr(getattr(self, "ln_pre", None), "weight", None) else 0.0, 0.1)

    def run(self, x):
        x = self.ln_pre(x + self.positional_embedding).permute(1, 0, 2)
        for blk in self.transformer.resblocks:
            x = blk(x)
        return self.ln_post(x.permute(1, 0, 2))


class RefModel(nn.Module):
    """Their VITVQModel's forward, from their code's structure (einops patterns written as reshapes)."""

    def __init__(self, codebook):
        super().__init__()
        self.encoder, self.decoder = RefViT(False), RefViT(True)
        self.quant_embed, self.post_quant_embed = nn.Linear(W, 24), nn.Linear(24, W)
        self.quantize = nn.Module()
        self.quantize.embedding = nn.Embedding(196560, 24)
        self.quantize.embedding.weight.data.copy_(codebook)

    def forward(self, x):
        b = x.shape[0]
        x = x.reshape(b, 3, G, P, G, P).permute(0, 2, 4, 1, 3, 5).reshape(b, G * G, 3 * P * P)  # b (hh ww) (c sh sw)
        z = F.normalize(self.quant_embed(self.encoder.run(self.encoder.conv1(x))), dim=-1)
        cb = F.normalize(self.quantize.embedding.weight, dim=-1)
        idx = (z.double() @ cb.double().T).argmax(-1)
        h = self.post_quant_embed(cb[idx])
        y = self.decoder.conv_out(self.decoder.ffn(self.decoder.run(h)))
        y = y.reshape(b, G, G, 3, P, P).permute(0, 3, 1, 4, 2, 5).reshape(b, 3, SIZE, SIZE)
        return y.clamp(-1, 1), idx


@pytest.fixture(scope="module")
def official(tmp_path_factory):
    torch.manual_seed(0)
    perm = torch.randperm(196560)
    codebook = index_to_vector(perm).float()  # their row i = npq's codeword perm[i]
    ref = RefModel(codebook).eval()
    path = tmp_path_factory.mktemp("official") / "checkpoint.pt"
    sd = {f"module.{k}": v for k, v in ref.state_dict().items()}
    ema = {f"module.module.{k}": v for k, v in ref.state_dict().items()}
    torch.save({"iter": 1000, "state_dict": sd, "ema_state_dict": ema, "args": argparse.Namespace(seed=0, output_dir="x")}, path)
    return ref, perm, path


def test_their_checkpoint_gives_their_reconstructions_and_tokens(official):
    ref, perm, path = official
    tok, model_cfg, index_map = from_official(path)
    assert model_cfg["vit"]["width"] == W and model_cfg["vit"]["depth"] == DEPTH and model_cfg["clamp_output"]
    assert np.array_equal(index_map, perm.numpy())
    x = torch.rand(2, 3, SIZE, SIZE) * 2 - 1
    with torch.no_grad():
        want, their_idx = ref(x)
        out = tok(x)
    assert torch.equal(torch.as_tensor(index_map)[their_idx].reshape(2, G, G), out.indices)
    assert torch.allclose(out.recon, want, atol=2e-5), (out.recon - want).abs().max()


def test_index_map_is_exact_and_refuses_other_tables():
    v = index_to_vector(torch.arange(196560))
    assert np.array_equal(leech_index_map(v + 1e-6), np.arange(196560))
    with pytest.raises(ValueError, match="integer lattice"):
        leech_index_map(v + 0.05)
    dup = v.clone()
    dup[1] = dup[0]
    with pytest.raises(ValueError, match="repeated"):
        leech_index_map(dup)


def test_npq_convert_command(official, tmp_path, capsys):
    from npq.zoo import load_tokenizer

    ref, perm, path = official
    out = tmp_path / "theirs.safetensors"
    assert main(["convert", str(path), "--out", str(out)]) == 0
    tok, _ = load_tokenizer(str(out))
    x = torch.rand(1, 3, SIZE, SIZE) * 2 - 1
    with torch.no_grad():
        want, their_idx = ref(x)
        got = tok(x)
    assert torch.allclose(got.recon, want, atol=2e-2)  # the model file holds fp16 weights
    idx_map = np.load(tmp_path / "theirs.index_map.npy", allow_pickle=False)
    assert np.array_equal(idx_map, perm.numpy())
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    assert main(["convert", str(tmp_path / "junk.pt"), "--out", str(tmp_path / "j.safetensors")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
