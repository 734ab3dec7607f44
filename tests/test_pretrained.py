"""Tokenizers as the field shares them: save_pretrained / npq.from_pretrained round trips give the
same tokens and reconstructions bit for bit; a pretrained folder or a Hugging Face repo id works
wherever --checkpoint does; offline, a repo id not in the cache is a one-line error and one in
the cache loads."""

import shutil

import numpy as np
import pytest
import torch
from repo_paths import REPO

import npq
from npq.cli.main import main
from npq.zoo import load_tokenizer

PHOTO = REPO / "tests" / "data" / "npq-0.1" / "astronaut_crop.png"


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    tok, cfg = load_tokenizer()
    d = tmp_path_factory.mktemp("hub") / "npq-default"
    tok.save_pretrained(d, cfg, metrics={"PSNR (dB), level 4": 27.26})
    return tok, d


def test_round_trip_is_bit_identical(saved):
    tok, d = saved
    assert sorted(p.name for p in d.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    card = (d / "README.md").read_text()
    assert "npq.from_pretrained" in card and "27.26" in card
    again = npq.from_pretrained(d)
    x = torch.rand(1, 3, 64, 96) * 2 - 1
    with torch.no_grad():
        assert torch.equal(again.encode(x), tok.encode(x))
        t = tok.encode(x)
        assert torch.equal(again.decode(t), tok.decode(t))


def test_a_folder_works_as_checkpoint_on_the_command_line(saved, tmp_path, capsys):
    _, d = saved
    assert main(["reconstruct", str(PHOTO), "--checkpoint", str(d), "--out", str(tmp_path / "a"), "--quiet"]) == 0
    assert main(["reconstruct", str(PHOTO), "--out", str(tmp_path / "b"), "--quiet"]) == 0  # the shipped default
    from PIL import Image

    assert np.array_equal(np.array(Image.open(tmp_path / "a" / PHOTO.name)), np.array(Image.open(tmp_path / "b" / PHOTO.name)))
    assert main(["compress", str(PHOTO), str(tmp_path / "x.npq"), "--checkpoint", str(d), "--prior", "uniform", "--quiet"]) == 0
    assert main(["decompress", str(tmp_path / "x.npq"), str(tmp_path / "x.png"), "--checkpoint", str(d), "--quiet"]) == 0


def test_repo_ids_offline_cache_and_errors(saved, tmp_path, monkeypatch, capsys):
    _, d = saved
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="offline"):
        npq.from_pretrained("someone/npq-tiny")
    assert main(["tokenize", str(PHOTO), "--checkpoint", "someone/npq-tiny", "--out", str(tmp_path / "t.npz")]) == 2
    err = capsys.readouterr().err.strip()
    assert "someone/npq-tiny" in err and len(err.splitlines()) == 1
    # a repo already in the hub's cache (its layout: models--owner--name/snapshots/<rev>, refs/main)
    repo = tmp_path / "hf" / "models--someone--npq-default"
    snap = repo / "snapshots" / ("0" * 40)
    shutil.copytree(d, snap)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text("0" * 40)
    tok = npq.from_pretrained("someone/npq-default")
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.equal(tok.encode(x), saved[0].encode(x))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="not a pretrained npq tokenizer"):
        npq.from_pretrained(tmp_path / "empty")
