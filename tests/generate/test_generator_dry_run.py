"""`npq train-generator CONFIG --dry-run` for every shipped generator config: the whole run's
mechanics (3 steps, checkpoint, resume, evaluation, sample grid, export, loading and sampling as
`npq generate` does) pass with stand-ins, and the missing token dataset and tokenizer are
reported at the start with their fix. Stand-in images are small enough for 4x4 token grids and
LlamaGen-B runs as the tiny preset here (the same code at a fraction of the cost); the CLI path
is checked once."""

import pytest
from repo_paths import CONFIGS, REPO

from npq.apps.dry_run_generator import dry_run_generator
from npq.cli.main import main

CONFIG_DIR = CONFIGS / "generation"
GEN_CONFIGS = sorted(p.name for p in CONFIG_DIR.glob("*_gen_*.yaml"))


@pytest.mark.parametrize("config", GEN_CONFIGS)
def test_every_generator_config_passes_the_dry_run(config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # relative runs/... paths: missing here, as on a fresh node
    monkeypatch.setenv("NPQ_FASHION_MNIST", str(tmp_path / "no-fashion-mnist"))
    over = [f"train.out_dir={tmp_path / 'run'}", f"tokenizer_config={REPO}/" + _tok_config(config)]
    big = "imagenet" in config
    # stand-in images small enough for a 4x4 token grid (downsampling 8 / 4): the same code with a
    # quarter of the sampling steps (a 196,560-way index head reads its 100 MB of weights per step)
    side = 32 if big else 16
    report = dry_run_generator(CONFIG_DIR / config, over + (["model.preset=tiny"] if big else []), log=lambda *_: None, resolution=side)
    assert report.evaluation["exported_and_sampled"] == [1, 3, side, side]
    assert any(p.startswith("data.tokens=") and "Fix: npq tokenize-dataset" in p for p in report.problems), report.problems
    assert any(p.startswith("tokenizer=") for p in report.problems), report.problems
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.dry-run").exists()


def _tok_config(config: str) -> str:
    from npq.train.generator import load_generator_config

    return load_generator_config(CONFIGS / "generation" / config).tokenizer_config


def test_the_cli_dry_run_exits_1_and_names_the_fixes(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    rc = main(["train-generator", str(CONFIGS / "generation" / "fmnist_gen_bsq18_bits.yaml"), f"tokenizer_config={REPO}/configs/generation/fmnist_tok_bsq18.yaml",
               "--dry-run", "--quiet"])
    out = capsys.readouterr().out
    assert rc == 1 and "mechanics passed" in out and "problem(s) to fix" in out and "npq tokenize-dataset" in out
