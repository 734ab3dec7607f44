"""Tokenizer models, training, checkpoints, CLI (distributed runs: test_distributed.py)."""

import json
import os
import shutil
from pathlib import Path

import pytest
import torch
from repo_paths import CONFIGS, TINY_CONFIG
from train_helpers import TRAIN_PHOTOS, make_photo_dir, tiny_overrides

from npq.models import VIT_PRESETS, ConvConfig, ConvDecoder, ConvEncoder, PatchGAN, StyleGAN2Discriminator, Tokenizer, ViTDecoder, ViTEncoder
from npq.quantize import make
from npq.train import ConfigError, Trainer, latest_checkpoint, load_config
from npq.train.trainer import init_matching
from npq.train.checkpoint import load_checkpoint, save_checkpoint


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory):
    return make_photo_dir(tmp_path_factory.mktemp("photos"))


# --- models ----------------------------------------------------------------------------------
@pytest.mark.parametrize("preset", sorted(VIT_PRESETS))
def test_vit_presets_forward_backward(preset):
    cfg = VIT_PRESETS[preset]
    # full width/heads of the preset, depth 1 (the full depth is only slower, not different)
    small = type(cfg)(cfg.width, 1, cfg.heads, cfg.mlp_ratio, cfg.patch, cfg.pos, cfg.image_size)
    tok = Tokenizer(ViTEncoder(small), make("leech"), ViTDecoder(small))
    x = torch.randn(1, 3, cfg.image_size, cfg.image_size, requires_grad=True)
    out = tok(x)
    g = cfg.image_size // cfg.patch
    assert out.recon.shape == x.shape and out.indices.shape == (1, g, g)
    out.recon.mean().backward()
    assert x.grad is not None and tok.quant_in.weight.grad is not None
    # sin-cos positions run at another resolution
    assert tok.encode(torch.randn(1, 3, cfg.image_size // 2, cfg.image_size)).shape == (1, g // 2, g)


def test_vits8_full_depth_forward():
    cfg = VIT_PRESETS["vit-s/8@128"]
    enc = ViTEncoder(cfg)
    assert sum(p.numel() for p in enc.parameters()) > 20e6  # ViT-S size
    with torch.no_grad():
        assert enc(torch.randn(1, 3, 128, 128)).shape == (1, 16, 16, 384)


def test_conv_tokenizer_and_discriminators():
    cc = ConvConfig(8, [1, 2, 4], 1, 16)
    tok = Tokenizer(ConvEncoder(cc), make("bsq", dim=10), ConvDecoder(cc))
    x = torch.rand(2, 3, 32, 48) * 2 - 1
    out = tok(x)
    assert out.recon.shape == x.shape and out.indices.shape == (2, 4, 6)
    assert torch.equal(tok.encode(x), out.indices)
    assert torch.allclose(tok.decode(out.indices), out.recon, atol=1e-5)
    assert PatchGAN(8)(x).shape[:2] == (2, 1)
    assert StyleGAN2Discriminator(32, 8)(x[..., :32]).shape == (2, 1)
    with pytest.raises(ValueError, match="multiple of 8"):
        tok.encode(torch.randn(1, 3, 30, 32))


# --- training --------------------------------------------------------------------------------------
def test_short_training_lowers_reconstruction_loss(photo_dir, tmp_path):
    cfg = load_config(TINY_CONFIG, tiny_overrides(photo_dir, tmp_path, **{"optim.steps": 40, "loss.gan": 0.0, "train.ckpt_every": 40}))
    t = Trainer(cfg, progress=False)
    t.run()
    l1 = [h["l1"] for h in t.history]
    first, last = sum(l1[:5]) / 5, sum(l1[-5:]) / 5
    assert last < 0.8 * first, (first, last)
    assert (tmp_path / "metrics.jsonl").is_file() and latest_checkpoint(tmp_path).name == "ckpt_00000040.pt"
    assert list((tmp_path / "images").glob("recon_*.png"))


def test_resume_gives_the_same_next_step_losses(photo_dir, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    full = Trainer(load_config(TINY_CONFIG, tiny_overrides(photo_dir, a)), progress=False)
    full.run()
    part = Trainer(load_config(TINY_CONFIG, tiny_overrides(photo_dir, b)), progress=False)
    part.run(steps=3)  # checkpoint at step 3
    resumed = Trainer(load_config(TINY_CONFIG, tiny_overrides(photo_dir, b)), resume=True, progress=False)
    assert resumed.step == 3
    resumed.run()
    for ha, hb in zip(full.history[3:], resumed.history, strict=True):
        assert ha["step"] == hb["step"]
        for k in ("l1", "loss", "d_loss", "perceptual"):
            if k in ha:
                assert ha[k] == pytest.approx(hb[k], rel=1e-5, abs=1e-6), (k, ha["step"])
    for pa, pb in zip(full.model.parameters(), resumed.model.parameters(), strict=True):
        assert torch.allclose(pa, pb, atol=1e-6)


def test_interrupted_checkpoint_write_keeps_the_previous(tmp_path, monkeypatch):
    save_checkpoint({"step": 1, "w": torch.ones(3)}, tmp_path, 1)
    before = (tmp_path / "ckpt_00000001.pt").read_bytes()

    def boom(obj, f, *a, **k):
        f.write(b"partial")
        raise KeyboardInterrupt("killed mid-write")

    monkeypatch.setattr(torch, "save", boom)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint({"step": 2}, tmp_path, 2)
    monkeypatch.undo()
    assert (tmp_path / "ckpt_00000001.pt").read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt_00000001.pt"]  # no partial file left
    assert latest_checkpoint(tmp_path).name == "ckpt_00000001.pt"


def test_bad_configs_and_missing_data(tmp_path, photo_dir):
    with pytest.raises(ConfigError, match="unknown config key 'optim.lrr'"):
        load_config(TINY_CONFIG, ["optim.lrr=1"])
    with pytest.raises(ConfigError, match="optim.lr must be a number >= 0"):
        load_config(TINY_CONFIG, ["optim.lr=fast"])
    with pytest.raises(ConfigError, match="model.arch must be one of"):
        load_config(None, ["model.arch=resnet"])
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="must look like key=value"):
        load_config(None, ["optim.lr"])
    with pytest.raises(ConfigError, match="model.quantizer: unknown quantizer"):
        from npq.train import build_tokenizer

        build_tokenizer(load_config(None, ["model.quantizer={name: leeech}"]).model, 128)
    with pytest.raises(FileNotFoundError, match="data folder not found"):
        Trainer(load_config(TINY_CONFIG, tiny_overrides(tmp_path / "missing", tmp_path)), progress=False)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="no images"):
        Trainer(load_config(TINY_CONFIG, tiny_overrides(empty, tmp_path)), progress=False)


def test_init_from_copies_matching_weights_and_resume_keeps_the_trained(photo_dir, tmp_path):
    """train.init_from: a finished run's weights start a residual run with the same encoder and
    decoder (v2 from v1); the stage gains are new; a resumed run keeps its own trained weights."""
    first = load_config(TINY_CONFIG, tiny_overrides(photo_dir, tmp_path / "a", **{"optim.steps": 3, "loss.gan": 0.0}))
    Trainer(first, progress=False).run()
    src = latest_checkpoint(tmp_path / "a")
    over = {"optim.steps": 3, "loss.gan": 0.0, "train.init_from": str(src),
            "model.quantizer": "{name: residual, quantizer: leech, stages: 2, dropout: 0.5}"}
    t = Trainer(load_config(TINY_CONFIG, tiny_overrides(photo_dir, tmp_path / "b", **over)), progress=False)
    ema = load_checkpoint(src)["ema"]
    own = t.model.state_dict()
    assert t.init_report["left"] == ["quantizer.gain", "quantizer.initialized"] and len(ema) == len(own) - 2
    assert all(torch.equal(own[k], v) for k, v in ema.items()) and not bool(own["quantizer.initialized"])
    t.run()
    trained = {k: v.clone() for k, v in t.model.state_dict().items()}
    r = Trainer(load_config(TINY_CONFIG, tiny_overrides(photo_dir, tmp_path / "b", **over)), resume=True, progress=False)
    assert not hasattr(r, "init_report") and all(torch.equal(trained[k], v) for k, v in r.model.state_dict().items())
    with pytest.raises(ValueError, match="no parameter matches"):
        init_matching(torch.nn.Linear(3, 3), str(src))


@pytest.mark.parametrize("name", sorted(p.stem for p in CONFIGS.glob("*.yaml") if not p.stem.startswith("compare")))
def test_shipped_configs_are_valid(name):
    cfg = load_config(CONFIGS / f"{name}.yaml")
    assert cfg.name == name


def test_gpu_recipe_builds_and_runs_a_step_of_its_model():
    """The v2 GPU recipe (never run on a GPU here): its tokenizer builds, has the residual ladder
    of the shipped v2 and the parameter count its comment states, and a 64-px batch trains."""
    from npq.models.build import build_tokenizer

    cfg = load_config(CONFIGS / "default_leech_v2_gpu.yaml")
    model = build_tokenizer(cfg.model, 64)
    assert model.downsample == 8 and model.quantizer.n_stages == 4
    assert round(sum(p.numel() for p in model.parameters()) / 1e6, 1) == 10.8
    out = model(torch.rand(2, 3, 64, 64))
    out.recon.sum().backward()
    assert out.recon.shape == (2, 3, 64, 64)


# --- CLI ----------------------------------------------------------------------------------------------
def test_cli_train_tokenize_reconstruct_eval(photo_dir, tmp_path, capsys):
    from npq.cli.main import main

    assert main(["train", TINY_CONFIG, *tiny_overrides(photo_dir, tmp_path / "run", **{"optim.steps": 2, "loss.gan": 0.0}), "--quiet"]) == 0
    ckpt = latest_checkpoint(tmp_path / "run")
    img = str(photo_dir / "camera.png")
    assert main(["tokenize", img, "--checkpoint", str(ckpt), "--out", str(tmp_path / "t.npz")]) == 0
    import numpy as np

    tokens = np.load(tmp_path / "t.npz")["camera.png"]
    assert tokens.shape == (64, 64) and tokens.max() < 196560  # 512 px / 8
    assert main(["reconstruct", img, "--checkpoint", str(ckpt), "--out", str(tmp_path / "rec")]) == 0
    assert (tmp_path / "rec" / "camera.png").is_file()
    assert main(["eval", "--checkpoint", str(ckpt), "--data", str(photo_dir), "--resolution", "64", "--metrics", "psnr,ssim,usage", "--quiet", "--out", str(tmp_path / "r.json")]) == 0
    res = json.loads((tmp_path / "r.json").read_text())
    assert res["images"] == len(TRAIN_PHOTOS) and 5 < res["psnr"] < 60 and res["usage"]["codes_used"] > 0
    # smoke run of an untrained model from a config
    assert main(["eval", "--config", TINY_CONFIG, "model.conv={channels: 8, mult: [1, 2, 4], blocks: 1, width: 32}",
                 "--data", str(photo_dir), "--resolution", "32", "--metrics", "psnr", "--quiet"]) == 0
    # missing weights and bad files: clear errors, exit code 2
    capsys.readouterr()
    env = os.environ.get("TORCH_HOME")
    os.environ["TORCH_HOME"] = str(tmp_path / "empty_cache")
    try:
        assert main(["eval", "--checkpoint", str(ckpt), "--data", str(photo_dir), "--metrics", "lpips", "--quiet"]) == 2
    finally:
        if env is None:
            os.environ.pop("TORCH_HOME")
        else:
            os.environ["TORCH_HOME"] = env
    assert "alexnet-owt-7be5be79.pth" in capsys.readouterr().err
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    assert main(["tokenize", img, "--checkpoint", str(tmp_path / "bad.pt"), "--out", str(tmp_path / "x.npz")]) == 2
    assert main(["train", str(tmp_path / "missing.yaml")]) == 2


def test_batches_are_identical_with_workers_ranks_and_resume(photo_dir):
    from npq.data.images import ImageDataset, batches

    ds = ImageDataset(photo_dir, 32, seed=3)
    ref = [b for _, b in zip(range(4), batches(ds, 4, seed=3))]
    with_workers = [b for _, b in zip(range(4), batches(ds, 4, seed=3, num_workers=2))]
    resumed = [b for _, b in zip(range(2), batches(ds, 4, seed=3, start_step=2))]
    rank1 = [b for _, b in zip(range(4), batches(ds, 4, rank=1, world=2, seed=3))]
    for (_, a), (_, b) in zip(ref, with_workers):
        assert torch.equal(a, b)
    for (_, a), (_, b) in zip(ref[2:], resumed):
        assert torch.equal(a, b)
    for (_, a), (_, b) in zip(ref, rank1):
        assert torch.equal(a[1::2], b)


# --- EMA warm-up -----------------------------------------------------------------------------------
def test_ema_decay_warmup_hand_values():
    from npq.train.trainer import ema_decay

    assert ema_decay(0, 0.999, 0.75) == 0.0  # the first update copies the model: the init is gone
    assert ema_decay(1, 0.999, 0.75) == pytest.approx(1 - 2**-0.75)
    assert ema_decay(9, 0.999, 0.75) == pytest.approx(1 - 10**-0.75)
    assert ema_decay(10**6, 0.999, 0.75) == 0.999  # capped at the configured decay
    assert ema_decay(5, 0.99, 0.0) == 0.99  # no warm-up


def test_trainer_ema_follows_the_warmup_schedule(photo_dir, tmp_path):
    """The EMA weights equal an EMA recomputed by hand from the model weights after every step."""
    from npq.train.trainer import ema_decay

    cfg = load_config(TINY_CONFIG, tiny_overrides(photo_dir, tmp_path / "r", **{"loss.gan": 0.0, "loss.perceptual": 0.0,
                                                                                 "train.ema": 0.9, "train.ema_warmup_power": 0.75}))
    t = Trainer(cfg, progress=False)
    name, p = next((n, q) for n, q in t.model.named_parameters() if q.ndim > 1)
    init = p.detach().clone()
    manual = None
    from npq.data.images import batches

    it = batches(t.dataset, cfg.data.batch_size, 0, 1, cfg.seed, 0, 0)
    for step in range(4):
        t.train_step(next(it)[1])
        d = ema_decay(step, 0.9, 0.75)
        manual = p.detach().clone() if manual is None and d == 0 else d * (manual if manual is not None else init) + (1 - d) * p.detach()
    ema_p = dict(t.ema.named_parameters())[name]
    assert torch.allclose(ema_p, manual, atol=1e-6)
    assert not torch.allclose(ema_p, init)  # no trace of the initialization's weight (decay 0 at step 0)


# --- unreadable training images ------------------------------------------------------------------
@pytest.mark.parametrize("preload", [True, False])
def test_unreadable_training_images_are_skipped_and_reported(photo_dir, tmp_path, preload):
    from npq.data.images import ImageDataset

    d = tmp_path / "photos"
    shutil.copytree(photo_dir, d)
    good = sorted(d.iterdir())
    (d / "aaa_truncated.png").write_bytes(good[0].read_bytes()[:200])  # sorts first
    (d / "zzz_not_an_image.jpg").write_text("hello")
    with pytest.warns(UserWarning, match="skipping unreadable training image"):
        ds = ImageDataset(str(d), 32, preload=preload)
        xs = [ds[i] for i in range(len(ds))]
    assert all(x.shape == (3, 32, 32) and bool(torch.isfinite(x).all()) for x in xs)
    assert sorted(Path(k).name for k in ds.skipped) == ["aaa_truncated.png", "zzz_not_an_image.jpg"]
    if preload:
        assert len(ds) == len(good)  # the unreadable files are left out before training starts
    (d / "only").mkdir()
    (d / "only" / "bad.png").write_bytes(b"\x89PNG broken")
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="none of the 1 training images"):
        ImageDataset(str(d / "only"), 32, preload=True)[0]


def test_training_into_a_used_folder_needs_resume_or_force(photo_dir, tmp_path, capsys):
    """A second run without --resume used to overwrite the first run's config and some of its
    checkpoints and leave its higher-step checkpoint as the latest."""
    from npq.cli.main import main

    run = tmp_path / "run"
    args = ["train", TINY_CONFIG, *tiny_overrides(photo_dir, run, **{"optim.steps": 3, "loss.gan": 0.0}), "--quiet"]
    assert main(args) == 0
    before = {p.name: p.read_bytes() for p in run.glob("ckpt_*.pt")}
    assert main(args[:-1] + ["optim.steps=2", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "holds another run" in err and "--resume" in err and "--force" in err
    assert {p.name: p.read_bytes() for p in run.glob("ckpt_*.pt")} == before  # untouched
    assert main(args[:-1] + ["optim.steps=2", "--quiet", "--force"]) == 0  # start over: the old checkpoints are gone
    assert latest_checkpoint(run).name == "ckpt_00000002.pt" and not (run / "ckpt_00000003.pt").exists()
    (tmp_path / "file").write_text("x")
    assert main(["train", TINY_CONFIG, *tiny_overrides(photo_dir, tmp_path / "file"), "--quiet"]) == 2
    assert "is a file" in capsys.readouterr().err


def test_resuming_with_another_model_is_one_line(photo_dir, tmp_path, capsys):
    from npq.cli.main import main

    args = ["train", TINY_CONFIG, *tiny_overrides(photo_dir, tmp_path / "r", **{"optim.steps": 1, "loss.gan": 0.0})]
    assert main(args + ["--quiet"]) == 0
    other = args + ["model.conv={channels: 16, mult: [1, 2, 4], blocks: 1, width: 32}", "optim.steps=2", "--resume", "--quiet"]
    assert main(other) == 2
    err = capsys.readouterr().err.strip()
    assert "do not fit this config's model" in err and len(err.splitlines()) == 1
