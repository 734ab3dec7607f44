"""Generation end to end through the ``npq`` entry point on Fashion-MNIST-format files: train a
tokenizer, tokenize both splits (resumable: a deleted shard is rewritten identically), train a
generator two steps with export, generate a labelled grid by class name, evaluate it; plus the
data module's format checks and the rule that the test split is never training data."""

import json

import numpy as np
import pytest
import torch
from repo_paths import REPO
from train_helpers import make_fashion_dir

from npq.cli.main import main
from npq.data.fashion_mnist import CLASSES, class_id, load_split, read_idx, write_idx

CFG = REPO / "configs" / "generation"
TOK = ["optim.steps=2", "data.batch_size=8", "model.conv={channels: 8, mult: [1, 2], blocks: 0, width: 16}", "train.tensorboard=false",
       "train.threads=null"]


def test_idx_round_trip_and_bad_files(tmp_path):
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    for name in ("x.idx", "x.idx.gz"):
        write_idx(tmp_path / name, a)
        assert np.array_equal(read_idx(tmp_path / name), a)
    (tmp_path / "bad").write_bytes(b"\0\0\x08\x03" + (2).to_bytes(4, "big") * 3 + b"\0" * 5)
    with pytest.raises(ValueError, match="declares 8"):
        read_idx(tmp_path / "bad")
    (tmp_path / "png").write_bytes(b"\x89PNG....")
    with pytest.raises(ValueError, match="not an IDX"):
        read_idx(tmp_path / "png")
    with pytest.raises(FileNotFoundError, match="apt-get install -y dataset-fashion-mnist"):
        load_split("train", tmp_path)
    assert class_id("Sneaker") == 7 and class_id("ankle boot") == 9 and class_id("3") == 3 and CLASSES[class_id("t-shirt/top")] == "t-shirt"
    with pytest.raises(ValueError, match="unknown Fashion-MNIST class"):
        class_id("hat")


def test_training_on_the_test_split_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NPQ_FASHION_MNIST", str(make_fashion_dir(tmp_path)))
    rc = main(["train", str(CFG / "fmnist_tok_leech.yaml"), "data.train=fashion-mnist:test", f"train.out_dir={tmp_path / 'r'}", *TOK])
    assert rc == 2 and "test split is for evaluation" in capsys.readouterr().err


def test_tokenize_train_generate_evaluate(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NPQ_FASHION_MNIST", str(make_fashion_dir(tmp_path)))
    tok = tmp_path / "tok"
    assert main(["train", str(CFG / "fmnist_tok_leech.yaml"), f"train.out_dir={tok}", *TOK, "--quiet"]) == 0
    for split in ("train", "test"):
        assert main(["tokenize-dataset", f"fashion-mnist:{split}", "--checkpoint", str(tok), "--out", str(tmp_path / split),
                     "--shard-size", "20", "--batch-size", "7", "--quiet"]) == 0
    meta = json.loads((tmp_path / "train" / "meta.json").read_text())
    assert meta["count"] == 48 and meta["shards"] == 3 and meta["grid"] == [8, 8] and meta["classes"] == list(CLASSES)
    first = np.load(tmp_path / "train" / "tokens_00001.npy")
    # resume: a killed run leaves some shards; re-running writes only the missing ones, identically
    (tmp_path / "train" / "tokens_00001.npy").unlink()
    (tmp_path / "train" / "meta.json").unlink()
    assert main(["tokenize-dataset", "fashion-mnist:train", "--checkpoint", str(tok), "--out", str(tmp_path / "train"), "--shard-size", "20", "--quiet"]) == 0
    assert np.array_equal(np.load(tmp_path / "train" / "tokens_00001.npy"), first)
    labels = np.concatenate([np.load(tmp_path / "train" / f"labels_{k:05d}.npy") for k in range(3)])
    assert np.array_equal(labels, load_split("train")[1])

    gen_dir, export = tmp_path / "gen", tmp_path / "exported"
    capsys.readouterr()
    args = ["train-generator", str(CFG / "fmnist_gen_leech_coordinates.yaml"), f"tokenizer={tok}", f"data.tokens={tmp_path / 'train'}",
            f"data.eval_tokens={tmp_path / 'test'}", "data.batch_size=8", "optim.steps=2", "optim.warmup=1", f"train.out_dir={gen_dir}",
            "train.threads=null", "model.transformer={width: 32, depth: 1, heads: 2}", "--export", str(export), "--quiet"]
    assert main(args) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["steps"] == 2 and 0 < res["eval_bits_per_token"] < 24 * np.log2(9) + 1
    assert (gen_dir / "images" / "samples_00000000.png").is_file()  # the end's work ran at the start too
    assert {p.name for p in export.iterdir()} == {"config.json", "model.safetensors", "README.md"}
    assert main(args[:-3] + ["--quiet"]) == 2  # the used out_dir is refused without --resume / --force
    assert "holds another run" in capsys.readouterr().err

    out = tmp_path / "samples" / "grid.png"
    assert main(["generate", "--checkpoint", str(export), "--class", "sneaker", "--class", "bag,0", "--n", "2", "--out", str(out)]) == 0
    from PIL import Image

    assert Image.open(out).size[1] > 3 * 64 and len(list((tmp_path / "samples" / "grid").glob("*_sneaker.png"))) == 2
    assert main(["generate", "--checkpoint", str(export), "--class", "sneaker", "--out", str(out)]) == 2  # no silent replacement
    assert main(["generate", "--checkpoint", str(export), "--class", "hat", "--out", str(tmp_path / "g2.png")]) == 2
    assert "unknown class 'hat'" in capsys.readouterr().err
    # the run folder loads too (its latest checkpoint, EMA weights), with the same samples as the export
    from npq.zoo import load_generator

    a, _, _ = load_generator(export)
    b, _, info = load_generator(gen_dir)
    assert info["step"] == 2
    s = lambda m: m.sample([7, 8], 2.0, generator=torch.Generator().manual_seed(1))  # noqa: E731
    assert torch.equal(s(a), s(b))

    from npq.apps.generation import evaluate_generator

    r = evaluate_generator(str(export), samples=20, cfg_scales=[1.0, 2.0], test_tokens=str(tmp_path / "test"), progress=False, speed=False)
    assert set(r["by_cfg"]) == {"1", "2"} and 0 <= r["by_cfg"]["2"]["class_consistency"] <= 1 and r["by_cfg"]["1"]["classifier_frechet"] >= 0
    assert r["test_bits_per_token_is_upper_bound"] and r["tokenizer_psnr_db"] > 5
