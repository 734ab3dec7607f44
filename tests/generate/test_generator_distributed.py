"""Generator training on two gloo ranks (DDP and FSDP) equals one process on the same global
batch: the same losses at every step and the same final weights and EMA weights; FSDP's
checkpoint resumes. One ``mp.spawn`` runs every job; a 60 s timeout turns a hang into a failure."""

import datetime
import os

import torch
import torch.multiprocessing as mp
from train_helpers import make_fashion_dir

from npq.generate.tokens import LabelledImages, write_token_dataset
from npq.models import build_tokenizer
from npq.train.generator import GeneratorTrainer, load_generator_config

CONV = {"channels": 8, "mult": [1, 2], "blocks": 0, "width": 16}
TOKENIZERS = {"leech": {"arch": "conv", "conv": CONV, "quantizer": {"name": "leech"}},
              "fsq": {"arch": "conv", "conv": CONV, "quantizer": {"name": "fsq", "levels": [4, 4, 4]}}}
# name: (strategy, tokenizer, head, stop and resume at); the index head on a 64-code FSQ keeps the test short
JOBS = {"ddp": ("ddp", "fsq", "index", None), "fsdp": ("fsdp", "leech", "coordinates", 2)}


def _cfg(root, name, strategy, tok, head):
    return load_generator_config(None, [
        f"tokenizer={root}/tok_{tok}", f"data.tokens={root}/tokens_{tok}", f"data.eval_tokens={root}/tokens_{tok}", "data.batch_size=8", "data.eval_max=16",
        "model.transformer={width: 32, depth: 2, heads: 2}", f"model.head={head}", "model.class_dropout=0.0", "model.chunk=5",
        "optim.steps=4", "optim.warmup=1", "optim.grad_clip=0.05", "train.ema=0.5", "train.ckpt_every=2", "train.image_every=100",
        f"train.strategy={strategy}", f"train.out_dir={root}/{name}"])


def _worker(rank, world, init_file, root):
    os.environ.update({"RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(rank)})
    import torch.distributed as dist

    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world, timeout=datetime.timedelta(seconds=60))
    torch.set_num_threads(1)
    for name, (strategy, tok, head, stop) in JOBS.items():
        cfg = _cfg(root, name, strategy, tok, head)
        t = GeneratorTrainer(cfg, progress=False)
        res = t.run(steps=stop)
        if stop is not None:
            dist.barrier()
            t = GeneratorTrainer(cfg, resume=True, progress=False)
            res = t.run()
        sd = {k: v.full_tensor() if hasattr(v, "full_tensor") else v for k, v in t.state()["model"].items()}
        if rank == 0:
            torch.save({"model": sd, "ema": t.ema.state_dict(), "eval": res["eval_bits_per_token"]}, f"{root}/{name}.pt")
        dist.barrier()
    dist.destroy_process_group()


def test_ddp_and_fsdp_generators_equal_one_process(tmp_path, monkeypatch):
    monkeypatch.setenv("NPQ_FASHION_MNIST", str(make_fashion_dir(tmp_path)))
    torch.manual_seed(0)
    for name, desc in TOKENIZERS.items():
        tok = build_tokenizer(desc, 32).eval()
        tok.save_pretrained(tmp_path / f"tok_{name}", {"model": desc, "data": {"resolution": 32}})
        write_token_dataset(LabelledImages("fashion-mnist:train", 32), tok.encode, tmp_path / f"tokens_{name}",
                            {"tokenizer": str(tmp_path / f"tok_{name}")}, shard_size=20)
    mp.spawn(_worker, args=(2, str(tmp_path / "init"), str(tmp_path)), nprocs=2, join=True)
    for name, (_, tok, head, _) in JOBS.items():
        one = GeneratorTrainer(_cfg(tmp_path, name + "_one", "ddp", tok, head), progress=False)
        res = one.run()
        got = torch.load(tmp_path / f"{name}.pt")
        for k, v in one.model.state_dict().items():
            assert torch.allclose(got["model"][k], v, atol=2e-5), (name, k)
        for k, v in one.ema.state_dict().items():
            assert torch.allclose(got["ema"][k], v, atol=2e-5), (name, "ema", k)
        assert abs(got["eval"] - res["eval_bits_per_token"]) < 1e-3
