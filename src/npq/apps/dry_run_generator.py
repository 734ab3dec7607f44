"""``npq train-generator CONFIG --dry-run``: a generator run's mechanics, its end included, in minutes.

1. **Preflight** - the token dataset (``data.tokens``, ``data.eval_tokens``) and the tokenizer
   that made it are checked first; each missing item is a *problem* reported with its fix.
2. **Mechanics** - the configured generator (its real size, head and distribution strategy) runs 2
   steps, saves a checkpoint, a fresh trainer resumes it and runs a third step, then the run's
   end: bits per token on held-out tokens, a sample grid decoded by the tokenizer, the export to a
   generator folder (``--export``) and ``npq generate``'s loading of that folder and sampling.
   Where the tokens or the tokenizer are missing, an untrained stand-in tokenizer with the
   configured one's quantizer and downsampling (``tokenizer_config``, or a Λ24 conv tokenizer)
   tokenizes a few synthetic images of two classes.

Works in ``<train.out_dir>.dry-run`` (removed afterwards unless ``keep``); succeeds (exit status 0)
only when there is no problem.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import numpy as np
import torch

from ..train.generator import GeneratorTrainer, load_generator_config
from ..utils import distributed as D
from .dry_run import DryRunReport, _workdir

__all__ = ["dry_run_generator"]


def _tokenizer_problem(source) -> str | None:
    from ..zoo import load_tokenizer

    try:
        load_tokenizer(source)
    except Exception as e:  # noqa: BLE001 - any failure to load is the problem to report
        return f"tokenizer={source!r}: {e}. Fix: train it (npq train ...) or point tokenizer= at a trained one"
    return None


def preflight(cfg) -> list[str]:
    """The problems of a generator config's inputs (see the module docstring)."""
    from ..generate.tokens import TokenDataset

    problems, meta = [], {}
    for key in ("tokens", "eval_tokens"):
        path = getattr(cfg.data, key)
        if path is None:
            continue
        try:
            ds = TokenDataset(path)
            meta = meta or ds.meta
        except (FileNotFoundError, ValueError, OSError) as e:
            problems.append(f"data.{key}={path!r}: {e}. Fix: npq tokenize-dataset DATA --checkpoint TOKENIZER --out {path}")
    source = cfg.tokenizer or meta.get("tokenizer")
    if source:
        p = _tokenizer_problem(source)
        if p:
            problems.append(p)
    elif not meta:
        problems.append("tokenizer: not set and no token dataset names one. Fix: set tokenizer=")
    return problems


def _stand_in_tokenizer(cfg, work: Path, resolution: int | None, report: DryRunReport) -> tuple[Path, int]:
    """An untrained tokenizer with the configured tokenizer's quantizer and downsampling factor,
    saved in ``work/tokenizer``; (its folder, its resolution)."""
    from ..models import build_tokenizer
    from ..models.build import _vit_config
    from ..train.config import load_config

    quantizer, factor, res = {"name": "leech"}, 4, 32
    if cfg.tokenizer_config:
        tc = load_config(cfg.tokenizer_config)
        quantizer, res = tc.model.quantizer, tc.data.resolution
        factor = _vit_config(tc.model, res).patch if tc.model.arch == "vit" else 2 ** len(tc.model.conv.get("mult", [1, 2]))
    res = resolution or res
    mult = [1] + [2] * (int(round(np.log2(factor))) - 1)
    desc = {"arch": "conv", "conv": {"channels": 8, "mult": mult, "blocks": 0, "width": 16}, "quantizer": quantizer}
    tok = build_tokenizer(desc, res).eval()
    folder = work / "tokenizer"
    tok.save_pretrained(folder, {"model": desc, "data": {"resolution": res}})
    report.notes.append(f"an untrained stand-in tokenizer (conv, downsampling {factor}, quantizer {quantizer.get('name')}) "
                        f"tokenized 8 synthetic {res}x{res} images of 2 classes")
    return folder, res


def _stand_in_tokens(tok_folder: Path, res: int, work: Path) -> Path:
    from .dry_run import synthetic_images
    from ..generate.tokens import LabelledImages, write_token_dataset
    from ..zoo import load_tokenizer

    for k in range(2):
        synthetic_images(work / "images" / f"class{k}", 4, res, seed=k)
    tok = load_tokenizer(str(tok_folder))[0]
    out = work / "tokens"
    with torch.no_grad():
        write_token_dataset(LabelledImages(str(work / "images"), res), tok.encode, out, {"tokenizer": str(tok_folder)}, batch_size=4)
    return out


def dry_run_generator(config: str | Path, overrides=(), workdir: str | Path | None = None, keep: bool = False,
                      progress: bool = False, log=print, resolution: int | None = None) -> DryRunReport:
    """Dry run of ``npq train-generator CONFIG [overrides]`` (see the module docstring);
    ``resolution`` shrinks the stand-in images (tests)."""
    from ..generate.io import save_generator
    from ..zoo import load_generator

    t0 = time.perf_counter()
    cfg = load_generator_config(config, overrides)
    report = DryRunReport()
    report.problems += preflight(cfg)
    for p in report.problems:
        log(f"dry run: problem: {p}")
    work = _workdir(cfg.train.out_dir, workdir)
    try:
        extra = []
        if report.problems:
            tok, res = _stand_in_tokenizer(cfg, work, resolution, report) if D.rank() == 0 else (work / "tokenizer", 0)
            if D.rank() == 0:
                _stand_in_tokens(tok, res, work)
            if D.is_distributed():
                torch.distributed.barrier()
            extra = [f"tokenizer={tok}", f"data.tokens={work / 'tokens'}", f"data.eval_tokens={work / 'tokens'}"]
        unit = D.world_size()
        dry = [*extra, "optim.steps=3", "train.ckpt_every=2", "train.log_every=1", "train.image_every=1000", "train.sample_per_class=1", "data.eval_max=4",
               f"data.batch_size={2 * unit}", "train.keep_checkpoints=2", f"train.out_dir={work / 'run'}"]
        cfg = load_generator_config(config, list(overrides) + dry)
        report.notes.append(f"3 steps at global batch {cfg.data.batch_size} (checkpoint at step 2, resumed by a fresh trainer)")
        t = GeneratorTrainer(cfg, progress=progress)
        t.run(steps=2)
        del t
        if D.is_distributed():
            torch.distributed.barrier()
        t = GeneratorTrainer(cfg, resume=True, progress=progress)
        if t.step != 2:
            raise RuntimeError(f"dry run: resuming found step {t.step}, expected the step-2 checkpoint")
        res = t.run()
        if not np.isfinite(res.get("eval_bits_per_token", 0.0)):
            report.problems.append(f"evaluation gave non-finite bits per token ({res['eval_bits_per_token']})")
        if D.rank() == 0:  # the run's end: export, then load and sample as `npq generate` does
            folder = save_generator(work / "export", t.describe(), t._eval_model().state_dict(), t.step)
            gen, tok, info = load_generator(str(folder))
            images = tok.decode(gen.sample(torch.tensor([0]), 2.0, generator=torch.Generator().manual_seed(0)))
            report.evaluation = {"eval_bits_per_token": res.get("eval_bits_per_token"), "exported_and_sampled": list(images.shape)}
        del t
        if D.is_distributed():
            torch.distributed.barrier()
    finally:
        if not keep and D.rank() == 0:
            shutil.rmtree(work, ignore_errors=True)
    report.seconds = time.perf_counter() - t0
    return report
