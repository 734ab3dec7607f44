"""`npq tokenize-dataset` under torchrun: two gloo ranks (rank 1 slower) write each its shards and
the dataset is declared complete (meta.json) only once every shard exists; the result equals the
one-process dataset byte for byte."""

import datetime
import os
import time

import numpy as np
import torch
import torch.multiprocessing as mp
from train_helpers import make_fashion_dir

from npq.generate.tokens import LabelledImages, TokenDataset, write_token_dataset
from npq.models import build_tokenizer

TOK = {"arch": "conv", "conv": {"channels": 8, "mult": [1, 2], "blocks": 0, "width": 16}, "quantizer": {"name": "fsq", "levels": [4, 4, 4]}}


def _tokenizer():
    torch.manual_seed(0)
    return build_tokenizer(TOK, 32).eval()


def _worker(rank, world, init_file, root, out):
    os.environ["NPQ_FASHION_MNIST"] = root
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world, timeout=datetime.timedelta(seconds=60))
    tok = _tokenizer()

    def encode(x):
        if rank == 1:
            time.sleep(0.5)  # the slower rank: rank 0 must wait for its shards
        with torch.no_grad():
            return tok.encode(x)

    write_token_dataset(LabelledImages("fashion-mnist:train", 32), encode, out, {"tokenizer": "t"}, shard_size=10, batch_size=5, rank=rank, world=world)
    dist.destroy_process_group()


def test_two_ranks_write_the_one_process_dataset(tmp_path, monkeypatch):
    root = str(make_fashion_dir(tmp_path))
    monkeypatch.setenv("NPQ_FASHION_MNIST", root)
    mp.spawn(_worker, args=(2, str(tmp_path / "init"), root, str(tmp_path / "two")), nprocs=2, join=True)
    tok = _tokenizer()
    with torch.no_grad():
        write_token_dataset(LabelledImages("fashion-mnist:train", 32), tok.encode, tmp_path / "one", {"tokenizer": "t"}, shard_size=10)
    a, b = TokenDataset(tmp_path / "one"), TokenDataset(tmp_path / "two")
    assert a.meta == b.meta and len(a) == len(b) == 48
    ta, la = a.get(range(48))
    tb, lb = b.get(range(48))
    assert torch.equal(ta, tb) and torch.equal(la, lb)
    for k in range(5):
        assert np.array_equal(np.load(tmp_path / "one" / f"tokens_{k:05d}.npy"), np.load(tmp_path / "two" / f"tokens_{k:05d}.npy"))
