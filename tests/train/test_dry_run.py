"""`npq train CONFIG --dry-run` and `npq compare CONFIG --dry-run` for every shipped config: the
mechanics of the whole run (its end included) pass, and what is missing offline (data, weights)
is reported at the start with its fix. ImageNet-size models run with a tiny ViT width and
discriminator (``model.vit``, ``loss.disc_channels`` overrides) and every config at 64 px
(``data.resolution``): the same code at a fraction of the cost."""

import pytest
from repo_paths import CONFIGS

from npq.cli.main import main

TINY = ["model.vit={width: 32, depth: 1, heads: 2}", "model.conv={channels: 8, mult: [1, 2, 4], blocks: 1, width: 32}",
        "loss.disc_channels=4", "data.num_workers=0"]
KNOWN_PROBLEMS = ("data.train=", "loss.perceptual_net=", "metric 'lpips'", "metric 'rfid'", "eval.photos=")


@pytest.fixture
def empty_weight_cache(tmp_path, monkeypatch):
    """No pretrained weights anywhere (as on this machine and on a fresh GPU node)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    for var in ("NPQ_LPIPS_BACKBONE", "NPQ_INCEPTION_WEIGHTS"):
        monkeypatch.delenv(var, raising=False)


def _problems(out: str) -> list[str]:
    lines = out.splitlines()
    if not any("problem(s) to fix" in x for x in lines):
        return []
    start = next(i for i, x in enumerate(lines) if "problem(s) to fix" in x)
    return [x.strip()[2:] for x in lines[start + 1 :] if x.startswith("  - ")]


# the 128-px comparison configs differ from imagenet128_vits8_leech.yaml only in the quantizer: their
# dry runs here leave out the GAN (its code runs in that config's dry run), to keep the suite's time
SAME_AS_LEECH_128 = ("imagenet128_vits8_bsq14.yaml", "imagenet128_vits8_bsq18.yaml", "imagenet128_vits8_rpvq14.yaml")


def _dry(command: str, config: str, capsys, tmp_path, extra=()) -> tuple[int, str, list[str]]:
    small = ["data.resolution=64"]  # the same code at 64 px (the configs train at 64-256 px)
    small += ["loss.gan=0"] if config in SAME_AS_LEECH_128 else []
    rc = main([command, str(CONFIGS / config), *TINY, *small, *extra, "--dry-run", "--quiet"])
    out = capsys.readouterr().out
    assert "mechanics passed" in out, out
    problems = _problems(out)
    assert rc == (1 if problems else 0)
    assert all(p.startswith(KNOWN_PROBLEMS) for p in problems), problems
    return rc, out, problems


TRAIN_CONFIGS = sorted(p.name for p in CONFIGS.glob("*.yaml") if not p.stem.startswith("compare"))
COMPARE_CONFIGS = sorted(p.name for p in CONFIGS.glob("compare*.yaml"))


@pytest.mark.parametrize("config", TRAIN_CONFIGS)
def test_every_training_config_passes_the_dry_run(config, capsys, tmp_path, empty_weight_cache):
    # out_dir in tmp: the dry run works in <out_dir>.dry-run and removes it
    rc, out, problems = _dry("train", config, capsys, tmp_path, [f"train.out_dir={tmp_path / 'run'}"])
    assert not (tmp_path / "run").exists() and not (tmp_path / "run.dry-run").exists()
    if "imagenet" in config:  # ImageNet and the VGG / AlexNet weights are absent here: said at the start
        assert any(p.startswith("data.train='/data/imagenet/train'") and "Fix:" in p for p in problems)
        assert any("vgg16-397923af.pth" in p for p in problems)


# both comparison configs list the same seven quantizers: the suite runs one of each (each config's
# evaluation - LPIPS / rFID stand-ins, the codec - and the 196,560-code learnable VQ), to keep its
# time; every quantizer of the list runs in train mode in tests/apps/test_compare.py, and `--dry-run` without
# --only runs all seven
ONLY = {"compare_imagenet128_vits8.yaml": ["--only", "BSQ"],
        "compare_cpu.yaml": ["--only", "VQ (Λ24 init)"]}


@pytest.mark.parametrize("config", COMPARE_CONFIGS)
def test_every_comparison_config_passes_the_dry_run(config, capsys, tmp_path, empty_weight_cache, monkeypatch):
    monkeypatch.chdir(tmp_path)  # runs_dir is relative: its .dry-run sibling lands here
    rc, out, problems = _dry("compare", config, capsys, tmp_path, ONLY.get(config, []))
    assert f"{len(ONLY[config][1].split(','))} runs x 1 step" in out
    if "imagenet" in config:  # the evaluation asks for LPIPS and rFID: their missing weights are named at once
        assert any("alexnet-owt-7be5be79.pth" in p for p in problems)
        assert any("weights-inception-2015-12-05-6726825d.pth" in p for p in problems)
    assert not any(tmp_path.glob("runs/*.dry-run"))


def test_a_comparison_asking_for_missing_metric_weights_stops_before_training(tmp_path, empty_weight_cache, capsys, monkeypatch):
    """The real `npq compare` (not the dry run) refuses at once when LPIPS / rFID weights are
    missing, instead of crashing at the evaluation after training (it trained first before)."""
    monkeypatch.chdir(tmp_path)
    cfg = (CONFIGS / "compare_cpu.yaml").read_text().replace("metrics: [psnr, ssim, effnet_pd, effnet_fd, usage]",
                                                             "metrics: [psnr, lpips, rfid]")
    cfg = cfg.replace("train: tiny_cpu_leech.yaml", f"train: {CONFIGS / 'tiny_cpu_leech.yaml'}")
    (tmp_path / "c.yaml").write_text(cfg)
    rc = main(["compare", str(tmp_path / "c.yaml"), "--quiet", "--out", str(tmp_path / "report")])
    err = capsys.readouterr().err
    assert rc == 2 and "alexnet-owt-7be5be79.pth" in err and "weights-inception" in err
    assert not (tmp_path / "runs").exists()  # nothing trained


def test_the_gpu_training_check_runs_on_a_cpu(capsys):
    """scripts/gpu_train_check.py (part of scripts/check_gpu.sh) on the CPU with a tiny model:
    its JSON line says the loss fell and nothing was non-finite."""
    import importlib.util
    import json

    from repo_paths import REPO

    spec = importlib.util.spec_from_file_location("gpu_train_check", REPO / "scripts" / "gpu_train_check.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rc = mod.main(["--steps", "8", "--batch", "2", "model.arch=conv", "model.conv={channels: 8, mult: [1, 2, 4], blocks: 1, width: 32}",
                   "loss.gan=0", "loss.perceptual_net=random-alex", "optim.lr_per_image=5e-4", "data.resolution=32"])
    res = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert rc == 0 and res["loss_fell"] and not res["non_finite"] and res["steps"] == 8
