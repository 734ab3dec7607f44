"""Weights files of other libraries' networks (InceptionV3 for rFID, LPIPS backbones,
EfficientNet-Lite0) are read without executing code, by every route a file can arrive, and a bad
file is a one-line error. torch-fidelity itself unpickles with ``weights_only=False``: before the
fix, each route below ran the forged file's code (the marker file appeared)."""

import os
import shutil

import pytest
import torch

from npq.cli.main import main
from npq.metrics.fid import INCEPTION_FILE, inception_feature_extractor


class _Evil:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.fixture
def evil(tmp_path):
    marker = tmp_path / "code_ran"
    path = tmp_path / "evil.pt"
    torch.save({"w": _Evil(marker)}, path)
    return path, marker


@pytest.fixture
def one_photo(tmp_path, skimage_photos):
    d = tmp_path / "photos"
    d.mkdir()
    shutil.copy(skimage_photos / "camera.png", d / "camera.png")
    return d


@pytest.mark.parametrize("route", ["argument", "environment", "hub cache"])
def test_forged_inception_weights_run_no_code(route, evil, one_photo, tmp_path, monkeypatch, capsys):
    path, marker = evil
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    monkeypatch.delenv("NPQ_INCEPTION_WEIGHTS", raising=False)
    args = ["eval", "--data", str(one_photo), "--metrics", "rfid", "--quiet"]
    if route == "argument":
        args += ["--inception-weights", str(path)]
    elif route == "environment":
        monkeypatch.setenv("NPQ_INCEPTION_WEIGHTS", str(path))
    else:
        cache = tmp_path / "torch_home" / "hub" / "checkpoints"
        cache.mkdir(parents=True)
        shutil.copy(path, cache / INCEPTION_FILE)
    assert main(args) == 2
    err = capsys.readouterr().err.strip()
    assert "cannot read InceptionV3 weights" in err and len(err.splitlines()) == 1, err
    assert not marker.exists()


def test_inception_weights_that_do_not_fit_are_a_clear_error(tmp_path):
    p = tmp_path / "w.pt"
    torch.save({"conv.weight": torch.zeros(3)}, p)
    with pytest.raises(ValueError, match="do not fit torch-fidelity's InceptionV3"):
        inception_feature_extractor(p)
    torch.save([1, 2], p)
    with pytest.raises(ValueError, match="not a state dict of tensors"):
        inception_feature_extractor(p)


def test_forged_or_wrong_lpips_and_effnet_weights_are_one_line_errors(evil, one_photo, tmp_path, capsys):
    from npq.metrics import load_lpips
    from npq.models.efficientnet_lite import load_efficientnet_lite0

    path, marker = evil
    assert main(["eval", "--data", str(one_photo), "--metrics", "lpips", "--lpips-weights", str(path), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert "cannot read LPIPS alex backbone weights" in err and len(err.splitlines()) == 1, err
    with pytest.raises(ValueError, match="cannot read EfficientNet-Lite0 weights"):
        load_efficientnet_lite0(path)
    assert not marker.exists()
    wrong = tmp_path / "wrong.pt"
    torch.save({"features.0.weight": torch.zeros(2)}, wrong)
    with pytest.raises(ValueError, match="is not torchvision's alex checkpoint"):
        load_lpips("alex", wrong)
    with pytest.raises(ValueError, match="not an EfficientNet-Lite0 state dict"):
        load_efficientnet_lite0(wrong)
