"""Outputs never destroy inputs or other files, keep the modes a normal write gives, and bad
locations give clear errors."""

import os
import stat

import pytest
from repo_paths import REPO

from npq.cli.main import main
from npq.utils.fileio import atomic_write_bytes

PHOTO = REPO / "tests" / "data" / "npq-0.1" / "astronaut_crop.png"


def test_output_over_input_is_refused(tmp_path, capsys):
    img = tmp_path / "victim.png"
    img.write_bytes(PHOTO.read_bytes())
    link = tmp_path / "link.png"
    link.symlink_to(img)
    for out in (img, link):
        assert main(["compress", str(img), str(out), "--prior", "uniform", "--force"]) == 2
        assert "is the input" in capsys.readouterr().err
    assert img.read_bytes() == PHOTO.read_bytes()
    assert main(["reconstruct", str(img), "--out", str(tmp_path)]) == 2  # would write victim.png over itself
    assert "is the input" in capsys.readouterr().err and img.read_bytes() == PHOTO.read_bytes()


def test_an_existing_file_of_another_kind_needs_force(tmp_path, capsys):
    other = tmp_path / "notes.npq"
    other.write_text("my notes")
    assert main(["compress", str(PHOTO), str(other), "--prior", "uniform"]) == 2
    assert "--force" in capsys.readouterr().err and other.read_text() == "my notes"
    assert main(["compress", str(PHOTO), str(other), "--prior", "uniform", "--force"]) == 0
    assert other.read_bytes()[:4] == b"NPQ\x89"
    assert main(["compress", str(PHOTO), str(other), "--prior", "uniform"]) == 0  # an npq file may be replaced


def test_the_readme_round_trip_never_replaces_the_original_photo(tmp_path, capsys):
    """`npq compress photo.png photo.npq; npq decompress photo.npq photo.png` used to replace the
    lossless original with the reconstruction; `reconstruct --out` into the photo's folder too."""
    import hashlib

    photo = tmp_path / "photo.png"
    photo.write_bytes(PHOTO.read_bytes())
    digest = hashlib.sha256(PHOTO.read_bytes()).hexdigest()
    assert main(["compress", str(photo), str(tmp_path / "photo.npq"), "--prior", "uniform", "--quiet"]) == 0
    assert main(["decompress", str(tmp_path / "photo.npq"), str(photo)]) == 2
    err = capsys.readouterr().err
    assert "exists" in err and "--force" in err and len(err.strip().splitlines()) == 1
    other = tmp_path / "copy" / "photo.png"  # reconstruct writes <stem>.png into --out: another file, same content
    other.parent.mkdir()
    other.write_bytes(PHOTO.read_bytes())
    assert main(["reconstruct", str(photo), "--out", str(other.parent)]) == 2
    assert "--force" in capsys.readouterr().err
    assert hashlib.sha256(photo.read_bytes()).hexdigest() == digest == hashlib.sha256(other.read_bytes()).hexdigest()
    assert main(["decompress", str(tmp_path / "photo.npq"), str(photo), "--force"]) == 0  # asked for: replaced
    assert hashlib.sha256(photo.read_bytes()).hexdigest() != digest
    assert main(["decompress", str(tmp_path / "photo.npq"), str(tmp_path / "new.png")]) == 0  # a new file: fine


def test_batch_outputs_with_the_same_name_are_refused(tmp_path, capsys):
    for d in ("a", "b"):
        (tmp_path / d).mkdir()
        (tmp_path / d / "ok.png").write_bytes(PHOTO.read_bytes())
    assert main(["tokenize", str(tmp_path / "a" / "ok.png"), str(tmp_path / "b" / "ok.png"), "--out", str(tmp_path / "t.npz")]) == 2
    assert "both be written as 'ok.png'" in capsys.readouterr().err and not (tmp_path / "t.npz").exists()
    (tmp_path / "a" / "ok.jpg").write_bytes(PHOTO.read_bytes())
    assert main(["reconstruct", str(tmp_path / "a" / "ok.png"), str(tmp_path / "a" / "ok.jpg"), "--out", str(tmp_path / "rec")]) == 2
    assert "both be written as 'ok.png'" in capsys.readouterr().err


def test_atomic_writes_keep_the_mode_a_normal_write_gives(tmp_path):
    old = os.umask(0o022)
    try:
        new = atomic_write_bytes(tmp_path / "new.bin", b"x")
        assert stat.S_IMODE(new.stat().st_mode) == 0o644
        kept = tmp_path / "kept.bin"
        kept.write_bytes(b"old")
        os.chmod(kept, 0o640)
        atomic_write_bytes(kept, b"y")
        assert stat.S_IMODE(kept.stat().st_mode) == 0o640 and kept.read_bytes() == b"y"
        target = tmp_path / "target.bin"
        target.write_bytes(b"t")
        (tmp_path / "ln").symlink_to(target)
        atomic_write_bytes(tmp_path / "ln", b"through")
        assert (tmp_path / "ln").is_symlink() and target.read_bytes() == b"through"
    finally:
        os.umask(old)


def test_unwritable_outputs_are_clear_errors(tmp_path, capsys):
    (tmp_path / "dir.npq").mkdir()
    assert main(["compress", str(PHOTO), str(tmp_path / "dir.npq"), "--prior", "uniform"]) == 2
    assert "is a folder" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    assert main(["compress", str(PHOTO), str(tmp_path / "file" / "out.npq"), "--prior", "uniform"]) == 2
    assert "cannot write" in capsys.readouterr().err
    with pytest.raises(ValueError, match="cannot write"):
        atomic_write_bytes("/proc/npq-cannot-write/x", b"")


def test_bad_files_and_places_are_one_line_errors_before_the_work(tmp_path, capsys, monkeypatch):
    """A non-model file as --checkpoint, a crafted safetensors whose tensor key collides with its
    metadata, an output under a file or in an unwritable folder, a side beyond the format's
    grid: each one line, before any encoding (the encode is made to fail if it runs)."""
    import json

    import torch
    from safetensors.torch import save

    import npq.codec.codec as codec

    (tmp_path / "notes.txt").write_text("hello")
    assert main(["tokenize", str(PHOTO), "--checkpoint", str(tmp_path / "notes.txt"), "--out", str(tmp_path / "t.npz")]) == 2
    err = capsys.readouterr().err.strip()
    assert "not a model file" in err and len(err.splitlines()) == 1
    crafted = tmp_path / "crafted.safetensors"
    crafted.write_bytes(save({"config/model": torch.zeros(1)}, metadata={"npq": json.dumps({"config": "a string"})}))
    assert main(["tokenize", str(PHOTO), "--checkpoint", str(crafted), "--out", str(tmp_path / "t.npz")]) == 2
    assert "collides" in capsys.readouterr().err
    monkeypatch.setattr(codec, "encode_tiled", lambda *a, **k: (_ for _ in ()).throw(AssertionError("encoded")))
    assert main(["compress", str(PHOTO), str(tmp_path / "notes.txt" / "x.npq"), "--prior", "uniform"]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    if not os.access(locked, os.W_OK):  # (root can write anywhere)
        assert main(["compress", str(PHOTO), str(locked / "x.npq"), "--prior", "uniform"]) == 2
        assert "not writable" in capsys.readouterr().err
    from PIL import Image

    from npq.zoo import load_tokenizer

    with pytest.raises(ValueError, match="sides up to 524,280 px"):
        codec.compress(Image.new("RGB", (524_281, 1)), load_tokenizer()[0])


def test_detokenize_is_the_inverse_of_tokenize(tmp_path, capsys):
    """npq tokenize then npq detokenize gives the pixels npq reconstruct gives (same size: the
    npz keeps each image's size), refuses to replace images, and bad archives are one line."""
    import numpy as np
    from PIL import Image

    img = tmp_path / "crop.png"
    Image.open(PHOTO).convert("RGB").crop((0, 0, 101, 75)).save(img)  # not multiples of 8
    assert main(["tokenize", str(img), "--out", str(tmp_path / "t.npz")]) == 0
    assert main(["detokenize", str(tmp_path / "t.npz"), "--out", str(tmp_path / "dec"), "--quiet"]) == 0
    assert main(["reconstruct", str(img), "--out", str(tmp_path / "rec")]) == 0
    a, b = np.array(Image.open(tmp_path / "dec" / "crop.png")), np.array(Image.open(tmp_path / "rec" / "crop.png"))
    assert a.shape == (75, 101, 3) and np.array_equal(a, b)
    capsys.readouterr()
    assert main(["detokenize", str(tmp_path / "t.npz"), "--out", str(tmp_path / "dec")]) == 2  # exists: --force
    assert "--force" in capsys.readouterr().err
    np.savez(tmp_path / "bad.npz", x=np.full((3, 3), 10**9))
    assert main(["detokenize", str(tmp_path / "bad.npz"), "--out", str(tmp_path / "d2")]) == 2
    assert "not a token grid of this model" in capsys.readouterr().err
