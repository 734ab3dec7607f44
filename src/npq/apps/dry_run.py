"""Dry runs: everything a long run will use, its end included, in minutes on a CPU.

``npq train CONFIG --dry-run`` and ``npq compare CONFIG --dry-run``:

1. **Preflight** - the training data, the perceptual loss's weights, ``train.init_from`` and
   every evaluation metric's weights are checked first; each missing item is reported with the
   exact fix (a *problem*).
2. **Mechanics** - the configured model, losses, discriminator, EMA and distribution strategy
   run 2 steps (GAN and lazy R1 switched on from step 1 so their code runs), save a checkpoint, a
   fresh trainer resumes it and runs a third step, the checkpoint is loaded back as ``npq eval``
   loads it, and the **final evaluation** runs on a handful of images (for ``compare``: every
   run's 2 steps, evaluation with its metrics and codec, and the report). Missing data is replaced
   by a few synthetic images and missing weights by random stand-ins, so the mechanics are tested
   even where the real run's inputs are not there yet.

The dry run works in ``<train.out_dir>.dry-run`` (removed afterwards unless ``keep``); the real
output folder is never touched. It succeeds (exit status 0) only when there is no problem.
"""

from __future__ import annotations

import copy
import math
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..utils import distributed as D
from ..train.config import Config, load_config

__all__ = ["DryRunReport", "preflight", "dry_run_train", "dry_run_compare", "synthetic_images"]

DRY_STEPS = 3  # 2 steps, checkpoint, resume, 1 step


@dataclass
class DryRunReport:
    """What a dry run found. ``problems``: must be fixed before the real run (each with its fix);
    ``notes``: what was substituted or shortened; ``evaluation``: the final evaluation's results."""

    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    evaluation: dict = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems

    def format(self) -> str:
        """The report as the lines ``npq train --dry-run`` prints: what passed, notes, and each problem
        to fix before the real run."""
        lines = [f"dry run: mechanics passed in {self.seconds:.1f} s (build, steps, checkpoint, resume, final evaluation)"]
        lines += [f"  note: {n}" for n in self.notes]
        if self.problems:
            lines.append(f"dry run: {len(self.problems)} problem(s) to fix before the real run:")
            lines += [f"  - {p}" for p in self.problems]
        else:
            lines.append("dry run: no problem found; the real run has everything it needs")
        return "\n".join(lines)


def synthetic_images(folder: Path, n: int, side: int, seed: int = 0) -> Path:
    """``n`` smooth random RGB PNGs ``side`` x ``side`` in ``folder`` (stand-in data)."""
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    g = np.random.default_rng(seed)
    for i in range(n):
        low = g.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        im = Image.fromarray(low).resize((side, side), Image.BICUBIC)
        im.save(folder / f"synthetic_{i:03d}.png")
    return folder


def _data_problem(source) -> str | None:
    from ..data.fashion_mnist import is_fashion_mnist, load_split
    from ..data.images import resolve_source

    try:
        found = load_split("train")[1] if is_fashion_mnist(source) else resolve_source(source)
    except (FileNotFoundError, ValueError, OSError) as e:
        msg = str(e)
    else:
        if len(found):
            return None
        msg = "no images found there"
    return (f"data.train={source!r}: {msg}. Fix: point data.train at a folder of images (recursive; ImageNet's "
            f"train/ folder works as is), tar shards ('/path/*.tar') or 'photos:debian'")


def preflight(cfg: Config, eval_metrics: list[str] | tuple[str, ...] = (), lpips_weights=None, inception_weights=None) -> tuple[list[str], list[str]]:
    """(problems, overrides that replace the missing pieces with stand-ins for the mechanics)."""
    from ..metrics.models import missing_metric_weights
    from ..metrics.perceptual import BACKBONE_FILES
    from ..utils.weights import MissingWeightsError, resolve_weights

    problems, stand_ins = [], []
    p = _data_problem(cfg.data.train)
    if p:
        problems.append(p)
        stand_ins.append("data.train=SYNTHETIC")
    lc = cfg.loss
    if lc.perceptual > 0 and lc.perceptual_net in BACKBONE_FILES:
        try:
            resolve_weights(f"LPIPS {lc.perceptual_net} backbone", BACKBONE_FILES[lc.perceptual_net], lc.perceptual_weights, "NPQ_LPIPS_BACKBONE")
        except MissingWeightsError as e:
            problems.append(f"loss.perceptual_net={lc.perceptual_net}: {e} (or set loss.perceptual_weights)")
            stand_ins.append(f"loss.perceptual_net=random-{lc.perceptual_net}")
    elif lc.perceptual > 0 and lc.perceptual_net == "effnet-lite0":
        try:
            from ..models.efficientnet_lite import effnet_weights_path

            effnet_weights_path(lc.perceptual_weights)
        except (MissingWeightsError, ImportError, FileNotFoundError) as e:
            problems.append(f"loss.perceptual_net=effnet-lite0: {e}")
            stand_ins.append("loss.perceptual_net=random-alex")
    if cfg.train.init_from:
        from ..zoo import load_tokenizer

        try:
            load_tokenizer(cfg.train.init_from)
        except Exception as e:  # noqa: BLE001 - any failure to load is the problem to report
            problems.append(f"train.init_from={cfg.train.init_from!r}: {e}")
            stand_ins.append("train.init_from=null")
    problems += list(missing_metric_weights(eval_metrics, lpips_weights, inception_weights).values())
    return problems, stand_ins


def _dry_overrides(cfg: Config, world: int) -> list[str]:
    """Short-run overrides: 3 steps (checkpoint at 2), the smallest global batch, every periodic
    action every step, GAN and R1 from step 1."""
    unit = world * cfg.optim.accum  # one image per rank and micro-batch; two where the config allows
    batch = 2 * unit if cfg.data.batch_size >= 2 * unit else unit
    out = [f"optim.steps={DRY_STEPS}", "train.ckpt_every=2", "train.log_every=1", "train.image_every=1",
           f"data.batch_size={batch}", f"data.num_workers={min(cfg.data.num_workers, 2)}", "train.keep_checkpoints=2"]
    if cfg.loss.gan > 0:
        out += [f"loss.gan_start={min(cfg.loss.gan_start, 1)}", f"loss.r1_every={min(cfg.loss.r1_every, 2)}"]
    return out


def _stand_in_data(stand_ins: list[str], work: Path, side: int, report: DryRunReport) -> list[str]:
    """The preflight's stand-in overrides, with synthetic training images written where the data
    is missing (the ``data.train=SYNTHETIC`` placeholder)."""
    if "data.train=SYNTHETIC" not in stand_ins:
        return list(stand_ins)
    folder = synthetic_images(work / "synthetic", 8, side)
    report.notes.append(f"8 synthetic {side}x{side} images replaced the missing training data")
    return [f"data.train={folder}" if e == "data.train=SYNTHETIC" else e for e in stand_ins]


def _train_mechanics(cfg: Config, report: DryRunReport, progress: bool) -> Path:
    """2 steps, checkpoint, fresh trainer resumes, 1 step, checkpoint; returns the last checkpoint."""
    from ..train.checkpoint import latest_checkpoint
    from ..train.trainer import Trainer

    t = Trainer(cfg, progress=progress)
    t.run(steps=2)
    del t
    if D.is_distributed():
        torch.distributed.barrier()
    t = Trainer(cfg, resume=True, progress=progress)
    if t.step != 2:
        raise RuntimeError(f"dry run: resuming found step {t.step}, expected the step-2 checkpoint")
    t.run()
    for k, v in (t.history[-1] if t.history else {}).items():
        if isinstance(v, float) and not math.isfinite(v):
            report.problems.append(f"training produced a non-finite {k} ({v}) at step {t.step}")
    del t
    if D.is_distributed():
        torch.distributed.barrier()
    return latest_checkpoint(cfg.train.out_dir)


def _workdir(out_dir: str, workdir: str | Path | None) -> Path:
    d = Path(workdir) if workdir else Path(str(Path(out_dir)) + ".dry-run")
    if D.rank() == 0:
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
    if D.is_distributed():
        torch.distributed.barrier()
    return d


def dry_run_train(config: str | Path, overrides: list[str] | tuple[str, ...] = (), workdir: str | Path | None = None,
                  keep: bool = False, progress: bool = False, log=print) -> DryRunReport:
    """Dry run of ``npq train CONFIG [overrides]`` (see the module docstring)."""
    from .evaluate import evaluate_tokenizer
    from ..metrics.models import metric_models, missing_metric_weights
    from ..zoo import load_tokenizer

    t0 = time.perf_counter()
    cfg = load_config(config, overrides)
    report = DryRunReport()
    eval_metrics = ["psnr", "ssim", "lpips", "rfid", "usage"]  # what `npq eval` reports
    problems, stand_ins = preflight(cfg, [])
    report.problems += problems
    for msg in missing_metric_weights(eval_metrics).values():
        report.notes.append(f"`npq eval` of the result: {msg}; a stand-in network ran in this dry run")
    for p in problems:
        log(f"dry run: problem: {p}")
    work = _workdir(cfg.train.out_dir, workdir)
    try:
        side = max(cfg.data.resolution * 5 // 4, cfg.data.resolution + 8)
        extra = _stand_in_data(stand_ins, work, side, report)
        dry = _dry_overrides(load_config(config, list(overrides) + extra), D.world_size()) + [f"train.out_dir={work / 'run'}"]
        cfg = load_config(config, list(overrides) + dry + extra)
        report.notes.append(f"{DRY_STEPS} steps at global batch {cfg.data.batch_size} (checkpoint at step 2, resumed by a fresh trainer)")
        ckpt = _train_mechanics(cfg, report, progress)
        # the run's end: load the checkpoint as `npq eval` does and evaluate a handful of images
        model, _ = load_tokenizer(str(ckpt))
        images = synthetic_images(work / "eval", 4, side, seed=1)
        report.evaluation = evaluate_tokenizer(model.eval(), images, resolution=cfg.data.resolution, metrics=eval_metrics,
                                               batch_size=4, progress=False, models=metric_models(eval_metrics, stand_ins=True))
    finally:
        if not keep and D.rank() == 0:
            shutil.rmtree(work, ignore_errors=True)
    report.seconds = time.perf_counter() - t0
    return report


def _center_crops(photos: list[Path], folder: Path, side: int) -> list[Path]:
    """Central ``side`` x ``side`` crops (or the whole photo if smaller) as PNGs in ``folder``: real
    content, evaluated (and coded) in a fraction of the time of the whole photos."""
    from PIL import Image

    from ..data.photos import load_rgb

    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for i, p in enumerate(photos):
        a = load_rgb(p)
        h, w = a.shape[:2]
        t, l = max(0, (h - side) // 2), max(0, (w - side) // 2)
        q = folder / f"{i:02d}_{Path(p).stem}.png"
        Image.fromarray(np.ascontiguousarray(a[t : t + side, l : l + side])).save(q)
        out.append(q)
    return out


def _eval_photos(configured, work: Path, side: int, report: DryRunReport) -> list[Path]:
    """The comparison's evaluation photos: the configured folder or list, the public evaluation
    photos when none is configured, synthetic ones (and a problem) when the configured ones are
    missing."""
    from ..data.images import list_images
    from ..data.photos import public_eval_photos

    if not configured:
        return public_eval_photos()
    try:
        photos = list_images(configured) if isinstance(configured, str) else [Path(p) for p in configured]
    except (FileNotFoundError, OSError):
        photos = []
    if photos:
        return photos
    report.problems.append(f"eval.photos={configured!r}: not found or empty. Fix: point eval.photos at the evaluation images "
                           "(e.g. ImageNet's val/ folder)")
    report.notes.append("2 synthetic photos replaced the missing evaluation photos")
    return list_images(synthetic_images(work / "eval_photos", 2, side, seed=1))


def dry_run_compare(config: str | Path, overrides: list[str] | tuple[str, ...] = (), workdir: str | Path | None = None,
                    keep: bool = False, progress: bool = False, log=print, only: list[str] | None = None) -> DryRunReport:
    """Dry run of ``npq compare CONFIG [overrides]``: the training dry run of the first run's
    config, then every run (or the labels in ``only``) for 1 step with the configured evaluation
    and the report."""
    from .compare import run_slug, load_compare_config, run_comparison
    from ..metrics.models import missing_metric_weights

    t0 = time.perf_counter()
    cc, train_path = load_compare_config(config, overrides)
    report = DryRunReport()
    first = load_config(train_path, list(cc.overrides))
    problems, stand_ins = preflight(first, cc.eval.metrics, cc.eval.lpips_weights, cc.eval.inception_weights)
    report.problems += problems
    for p in problems:
        log(f"dry run: problem: {p}")
    work = _workdir(str(Path(cc.runs_dir)), workdir)
    try:
        side = max(first.data.resolution * 5 // 4, cc.eval.tile + 8, (cc.eval.resize or 0) + 8)
        extra = _stand_in_data(stand_ins, work, side, report)
        dry = _dry_overrides(load_config(train_path, list(cc.overrides) + extra), D.world_size())
        photos = _eval_photos(cc.eval.photos, work, side, report)
        report.notes.append(f"evaluation on {side}x{side} central crops of 2 photos")
        dcc = copy.deepcopy(cc)
        dcc.overrides = list(cc.overrides) + extra + dry
        per_run = dcc.overrides + ["optim.steps=1", "train.ckpt_every=1"]  # save / resume: the first run's mechanics below
        dcc.runs_dir = str(work / "runs")
        dcc.eval.photos = [str(p) for p in _center_crops(photos[:2], work / "eval_crops", side)]
        dcc.eval.prior_crops = min(cc.eval.prior_crops, 8)
        if only:
            unknown = sorted(set(only) - {r.label for r in dcc.runs})
            if unknown:
                from ..utils.config import ConfigError

                raise ConfigError(f"--only: unknown label(s) {unknown}; the config has {[r.label for r in dcc.runs]}")
            dcc.runs = [r for r in dcc.runs if r.label in only]
        for r in dcc.runs:
            r.seeds = r.seeds[:1]
        report.notes.append(f"the first run's config: {DRY_STEPS} steps with checkpoint and resume; then {len(dcc.runs)} runs x 1 step "
                            "(first seed only), each evaluated on 2 photos, and the report")
        # save / resume / end of the first run's training config
        _train_mechanics(load_config(train_path, dcc.overrides + [f"train.out_dir={work / 'first'}"]), report, progress)
        dcc.overrides = per_run
        missing = set(missing_metric_weights(cc.eval.metrics, cc.eval.lpips_weights, cc.eval.inception_weights))
        if missing:
            report.notes.append(f"stand-in networks ran for {sorted(missing)} (their weights are missing)")
        summary = run_comparison(config, out=work / "report", progress=progress, log=lambda m: None, cc=dcc, metric_stand_ins=True)
        done = [r["label"] for r in summary["rows"]]
        report.evaluation = {"runs": done, "report": sorted(p.name for p in (work / "report").iterdir()) if D.rank() == 0 else []}
        lost = [r.label for r in dcc.runs if r.label not in done or not (work / "runs" / run_slug(r.label, r.seeds[0]) / "result.json").is_file()]
        if lost:
            report.problems.append(f"runs without a result: {lost}")
    finally:
        if not keep and D.rank() == 0:
            shutil.rmtree(work, ignore_errors=True)
    report.seconds = time.perf_counter() - t0
    return report
