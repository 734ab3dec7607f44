"""`npq compare`: a 2-quantizer, few-step comparison end to end, resume, and the recipes' losses."""

import json
import math

import numpy as np
import pytest
import torch
import yaml
from PIL import Image
from repo_paths import CONFIGS, TINY_CONFIG

from npq.apps.compare import load_compare_config, run_comparison
from npq.cli.main import main
from npq.quantize import make
from npq.train import Trainer, load_config
from npq.utils.config import ConfigError

TRAIN = ["data.resolution=32", "data.batch_size=4", "data.preload=true", "model.arch=conv",
         "model.conv={channels: 8, mult: [1, 2, 4], blocks: 1, width: 32}", "loss.perceptual=0", "optim.steps=2",
         "optim.warmup=1", "train.tensorboard=false", "train.log_every=1", "train.ckpt_every=1", "train.image_every=1000"]


@pytest.fixture(scope="module")
def setup(tmp_path_factory, skimage_photos):
    d = tmp_path_factory.mktemp("compare")
    photos = []
    for i, p in enumerate(sorted(skimage_photos.iterdir())[:2]):
        a = np.array(Image.open(p).convert("RGB"))[:64, :64]
        photos.append(str(d / f"eval{i}.png"))
        Image.fromarray(a).save(photos[-1])
    cfg = {
        "name": "test", "train": TINY_CONFIG, "overrides": TRAIN + [f"data.train={skimage_photos}"],
        "runs_dir": str(d / "runs"),
        "eval": {"tile": 32, "metrics": ["psnr", "ssim", "effnet_pd", "usage"], "prior_crops": 4, "prior_crop": 32, "photos": photos},
        "runs": [{"label": "Λ24-SQ", "quantizer": {"name": "leech"}, "seeds": [0, 1]},
                 {"label": "BSQ", "quantizer": {"name": "bsq", "dim": 8, "entropy": {"weight": 0.1}}, "seeds": [0]}],
    }
    path = d / "compare.yaml"
    path.write_text(yaml.safe_dump(cfg, allow_unicode=True))
    return d, path


def test_comparison_end_to_end_and_resume(setup):
    d, path = setup
    summary = run_comparison(path, out=d / "report", progress=False, log=lambda m: None)
    assert [r["label"] for r in summary["rows"]] == ["Λ24-SQ", "BSQ"]
    leech, bsq = summary["rows"]
    assert leech["seeds"] == [0, 1] and bsq["seeds"] == [0]
    assert leech["bits_per_token"]["mean"] == pytest.approx(math.log2(196560)) and bsq["bits_per_token"]["mean"] == 8
    for row in summary["rows"]:
        assert math.isfinite(row["psnr"]["mean"]) and row["bpp_context"]["mean"] > 0
    md = (d / "report" / "comparison.md").read_text()
    assert "| Λ24-SQ | 2 |" in md and "| BSQ | 1 |" in md and (d / "report" / "figures" / "comparison.png").is_file()
    assert json.loads((d / "report" / "comparison.json").read_text())["rows"][1]["label"] == "BSQ"
    # the uniform prior spends log2 K bits per 8x8 patch, plus a header of < 100 bytes on these 64x64 photos
    assert math.log2(196560) / 64 < leech["bpp_uniform"]["mean"] < math.log2(196560) / 64 + 800 / 64**2

    # resume: a finished run is not redone; a removed result is re-evaluated without retraining
    runs = d / "runs"
    kept = (runs / "bsq_s0" / "result.json").stat().st_mtime_ns
    (runs / "l24-sq_s1" / "result.json").unlink()
    log_lines = (runs / "l24-sq_s1" / "metrics.jsonl").read_text().count("\n")
    partial = run_comparison(path, out=d / "partial", progress=False, log=lambda m: None, train=False)
    assert partial["unfinished"] == ["Λ24-SQ seed 1"] and partial["rows"][0]["seeds"] == [0]
    assert "Not finished yet" in (d / "partial" / "comparison.md").read_text()
    run_comparison(path, out=None, progress=False, log=lambda m: None)
    assert (runs / "bsq_s0" / "result.json").stat().st_mtime_ns == kept
    assert (runs / "l24-sq_s1" / "result.json").is_file()
    assert (runs / "l24-sq_s1" / "metrics.jsonl").read_text().count("\n") == log_lines  # no training step again


def test_interrupted_training_continues_from_its_checkpoint(setup, skimage_photos):
    d, path = setup
    cc, train_path = load_compare_config(path)
    out = d / "runs2"
    cfg = yaml.safe_load(path.read_text())
    cfg["runs_dir"] = str(out)
    cfg["runs"] = cfg["runs"][1:]
    cfg["eval"]["codec"] = False
    p2 = d / "compare2.yaml"
    p2.write_text(yaml.safe_dump(cfg, allow_unicode=True))
    # a run killed after step 1 of 2 (same config as the comparison would build)
    tc = load_config(train_path, TRAIN + [f"data.train={skimage_photos}", f"train.out_dir={out / 'bsq_s0'}"])
    tc.model.quantizer = cfg["runs"][0]["quantizer"]
    Trainer(tc.validate(), progress=False).run(1)
    run_comparison(p2, out=None, progress=False, log=lambda m: None)
    steps = [json.loads(x)["step"] for x in (out / "bsq_s0" / "metrics.jsonl").read_text().splitlines()]
    assert steps == [1, 2]  # step 1 from the first process, step 2 after resuming, nothing redone
    assert json.loads((out / "bsq_s0" / "result.json").read_text())["steps"] == 2


def test_cli_compare_and_bad_configs(setup, tmp_path, capsys):
    d, path = setup
    assert main(["compare", str(path), "--out", str(tmp_path / "r"), "--quiet"]) == 0  # all finished: report only
    assert "| Λ24-SQ |" in capsys.readouterr().out
    assert main(["compare", str(path), "--report-only", "--out", str(tmp_path / "r2"), "--quiet"]) == 0
    assert "Not finished" not in (tmp_path / "r2" / "comparison.md").read_text()
    assert main(["compare", str(path), "--only", "nope", "--quiet"]) == 2
    assert "unknown label" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ntrain: tiny_cpu_leech.yaml\nruns: [{label: a, quantizer: {name: leech}}, {label: a, quantizer: {name: fsq, bits: 8}}]\n")
    with pytest.raises(ConfigError, match="unique"):
        load_compare_config(bad)


def test_shipped_recipes_have_the_auxiliary_losses_they_promise():
    """Λ24-SQ, RP-VQ and FSQ train with no auxiliary loss; BSQ and LFQ with entropy regularization
    (LFQ also commitment); learnable VQ with commitment and codebook losses."""
    for name in ("compare_cpu.yaml", "compare_imagenet128_vits8.yaml"):
        cc, _ = load_compare_config(CONFIGS / name)
        for run in cc.runs:
            kw = dict(run.quantizer)
            q = make(kw.pop("name"), **kw).train()
            z = torch.randn(256, q.dim, generator=torch.Generator().manual_seed(0), requires_grad=True)
            out = q(z)
            if run.label in ("Λ24-SQ", "RP-VQ", "FSQ"):
                assert float(out.loss) == 0.0 and not out.loss.requires_grad, run.label
            elif run.label in ("BSQ", "LFQ"):
                assert "per_sample_entropy_bits" in out.stats and float(out.loss) != 0.0, run.label
                out.loss.backward()
                assert z.grad is not None and float(z.grad.abs().sum()) > 0
            else:
                assert run.label.startswith("VQ") and float(out.loss) > 0, run.label
