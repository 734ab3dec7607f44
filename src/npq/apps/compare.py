"""`npq compare CONFIG`: the same tokenizer trained once per quantizer, evaluated and compared.

A comparison config names a training config (architecture, data, losses, optimizer, steps), a list
of runs (a label, a quantizer with its field's recipe, seeds) and the evaluation. For each run and
seed the tokenizer is trained with :class:`~npq.train.Trainer` (resuming from its checkpoints),
then evaluated on the public evaluation photos:

* reconstruction metrics on native-resolution tiles (``eval.tile`` px, a non-overlapping grid):
  PSNR, SSIM, EfficientNet-Lite0 perceptual and Fréchet distances, codebook usage and perplexity;
* a real codec: each whole photo compressed (``npq.codec``) with the uniform prior and with the
  context prior fitted on tokens of the training photos; bpp, PSNR, MS-SSIM of the decoded file.

Every finished (run, seed) writes ``result.json`` in its folder: a killed comparison continues
where it stopped (training resumes from its last checkpoint, finished runs are not redone). The
report (Markdown table, bar chart, JSON) is written from whatever results exist.
"""

from __future__ import annotations

import copy
import json
import math
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import yaml

from ..codec.rd import json_safe
from ..data.images import list_images
from ..data.photos import load_rgb, public_eval_photos
from ..utils import distributed as D
from ..utils.config import ConfigError, from_dict
from ..utils.fileio import atomic_write_text
from ..utils.progress import progress_bar

__all__ = ["CompareConfig", "RunSpec", "EvalSpec", "load_compare_config", "run_comparison", "write_report", "summarize"]


@dataclass
class RunSpec:
    """One quantizer of the comparison: ``label`` (table row), ``quantizer`` (``{"name": ..., **kwargs}``
    as in ``model.quantizer``), ``seeds``, ``overrides`` (extra ``key=value`` of the training config,
    e.g. ``loss.quantizer=1.0``) and a one-line ``recipe`` for the report."""

    label: str
    quantizer: dict
    seeds: list[int] = field(default_factory=lambda: [0])
    overrides: list[str] = field(default_factory=list)
    recipe: str = ""


@dataclass
class EvalSpec:
    """Evaluation: ``resize`` (None: native resolution; else each photo resized and center-cropped
    to that side first, as the papers do at 128 or 256 px), tile side, metrics on tiles, crops of
    training photos for the context prior, ``photos`` (None: the public evaluation photos; else a
    folder or a list of image paths), ``codec`` (real bitstreams of the whole photos)."""

    resize: int | None = None
    interpolation: str = "bicubic"  # of the resize; "lanczos" as the authors' evaluation
    tile: int = 128
    metrics: list[str] = field(default_factory=lambda: ["psnr", "ssim", "effnet_pd", "effnet_fd", "usage"])
    prior_crops: int = 256
    prior_crop: int = 128
    codec: bool = True
    photos: str | list[str] | None = None
    lpips_weights: str | None = None  # AlexNet checkpoint for ``lpips`` (else $NPQ_LPIPS_BACKBONE / torch hub cache)
    inception_weights: str | None = None  # torch-fidelity InceptionV3 for ``rfid`` (else $NPQ_INCEPTION_WEIGHTS / cache)


@dataclass
class CompareConfig:
    """A quantizer comparison (``npq compare CONFIG``): a ``name``, the training config every run
    starts from (``train``), the runs (each a quantizer and its overrides), overrides for all
    runs, and where their run folders go."""
    name: str
    train: str  # training config (path relative to the comparison config's folder or the working dir)
    runs: list[RunSpec]
    overrides: list[str] = field(default_factory=list)
    runs_dir: str = "runs/compare"
    eval: EvalSpec = field(default_factory=EvalSpec)
    threads: int | None = None
    notes: str = ""  # the analysis of the measured results (Markdown), printed in the report
    notes_date: str = ""  # when ``notes`` was written (the tables are regenerated; the prose is not)

    @classmethod
    def from_dict(cls, d: dict) -> "CompareConfig":
        d = dict(d)
        runs = d.pop("runs", None)
        if not isinstance(runs, list) or not runs:
            raise ConfigError("a comparison config needs 'runs': a non-empty list of {label, quantizer, seeds}")
        cfg = from_dict(cls, {**d, "runs": []})
        cfg.runs = [from_dict(RunSpec, r, f"runs[{i}].") if isinstance(r, dict) else _bad_run(i, r) for i, r in enumerate(runs)]
        labels = [r.label for r in cfg.runs]
        if len(set(labels)) != len(labels):
            raise ConfigError(f"run labels must be unique, got {labels}")
        for r in cfg.runs:
            if not isinstance(r.quantizer, dict) or "name" not in r.quantizer:
                raise ConfigError(f"run {r.label!r}: quantizer must be a mapping with a 'name'")
            if not r.seeds or any(isinstance(s, bool) or not isinstance(s, int) or s < 0 for s in r.seeds):
                raise ConfigError(f"run {r.label!r}: seeds must be a non-empty list of integers >= 0")
        return cfg


def _bad_run(i: int, r) -> RunSpec:
    raise ConfigError(f"runs[{i}] must be a mapping, got {r!r}")


def load_compare_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> tuple[CompareConfig, Path]:
    """The comparison config and the resolved path of its training config. ``overrides`` are
    ``key=value`` applied to every run's training config (e.g. ``optim.steps=20`` for a smoke run)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"comparison config not found: {p}")
    try:
        d = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"cannot parse {p}: {e}") from None
    if not isinstance(d, dict):
        raise ConfigError(f"{p} must hold a mapping")
    cfg = CompareConfig.from_dict(d)
    cfg.overrides = list(cfg.overrides) + list(overrides)
    return cfg, _train_path(cfg, p)


def _train_path(cfg: CompareConfig, p: Path) -> Path:
    train = Path(cfg.train)
    for cand in (p.parent / train, train):
        if cand.is_file():
            return cand
    raise ConfigError(f"training config {cfg.train!r} (named in {p}) not found")


def run_slug(label: str, seed: int) -> str:
    s = re.sub(r"[^A-Za-z0-9]+", "-", label.replace("Λ", "L")).strip("-").lower()
    return f"{s}_s{seed}"


def _train_config(cc: CompareConfig, train_path: Path, run: RunSpec, seed: int, out_dir: Path):
    from ..train import load_config

    cfg = load_config(train_path, list(cc.overrides) + list(run.overrides))
    cfg.seed = seed
    cfg.model.quantizer = copy.deepcopy(run.quantizer)
    cfg.train.out_dir = str(out_dir)
    cfg.name = f"{cc.name}/{out_dir.name}"
    return cfg.validate()


def _tiles(photos: list[Path], tile: int, resize: int | None = None, interpolation: str = "bicubic") -> torch.Tensor:
    """Non-overlapping tiles of the photos (native resolution, or resized and center-cropped to
    ``resize`` first), ``(n, 3, tile, tile)`` in [0, 1]."""
    from PIL import Image

    from ..data.transforms import resize_center_crop

    out = []
    for p in photos:
        a = load_rgb(p)
        if resize:
            a = np.array(resize_center_crop(Image.fromarray(a), resize, interpolation))
        for i in range(0, a.shape[0] - tile + 1, tile):
            for j in range(0, a.shape[1] - tile + 1, tile):
                out.append(torch.from_numpy(np.ascontiguousarray(a[i : i + tile, j : j + tile])).permute(2, 0, 1))
    if not out:
        raise ValueError(f"no {tile}x{tile} tile fits in the evaluation photos")
    return torch.stack(out).float() / 255


@torch.no_grad()
def evaluate_run(model, photos: list[Path], spec: EvalSpec, train_source, seed: int = 0, progress: bool = True,
                 models: dict | None = None) -> dict:
    """Tile metrics and (``spec.codec``) real-bitstream results of one trained tokenizer (eval mode).
    ``models``: the pretrained networks of the metrics (:func:`npq.metrics.models.metric_models`;
    loaded here when None)."""
    from ..metrics.models import metric_models

    from ..codec.priors import ContextPrior
    from ..codec.priors.training import tokenize_crops
    from ..codec.rd import npq_point
    from ..metrics import ReconstructionMetrics
    from ..metrics.codebook import usage_context

    q = model.quantizer
    if models is None:
        models = metric_models(spec.metrics, spec.lpips_weights, spec.inception_weights)
    acc = ReconstructionMetrics(spec.metrics, **usage_context(q), **models)
    tiles = _tiles(photos, spec.tile, spec.resize, spec.interpolation)[D.rank() :: D.world_size()]  # torchrun: metrics reduce over ranks
    for i in progress_bar(range(0, len(tiles), 16), "eval tiles", progress):
        x = tiles[i : i + 16]
        out = model(x * 2 - 1)
        acc.update(x, ((out.recon + 1) / 2).clamp(0, 1), out.indices)
    res = acc.compute()
    res["tiles"] = res.pop("images")
    res["bits_per_token"] = math.log2(q.codebook_size)
    if spec.codec and D.rank() == 0:
        grids = tokenize_crops(model, train_source, crops=spec.prior_crops, crop=spec.prior_crop, seed=seed, progress=progress)
        prior = ContextPrior.fit(grids, q.codebook_size)
        codec = {"uniform": [], "context": []}
        for p in progress_bar(photos, "codec", progress):
            img = load_rgb(p)
            for name, pr in (("uniform", None), ("context", prior)):
                pt, _ = npq_point(img, model, pr)
                codec[name].append({"image": p.name, **pt})
        res["codec"] = {k: {"bpp": float(np.mean([r["bpp"] for r in v])), "psnr": float(np.mean([r["psnr"] for r in v])),
                            "ms_ssim": _mean_finite([r["ms_ssim"] for r in v]), "images": v} for k, v in codec.items()}
    return res


def _mean_finite(vals: list[float]) -> float:
    """Mean of the finite values (MS-SSIM is NaN for photos under 161 px), NaN if none."""
    ok = [v for v in vals if math.isfinite(v)]
    return float(np.mean(ok)) if ok else math.nan


def run_comparison(config: str | Path, overrides: list[str] | tuple[str, ...] = (), only: list[str] | None = None,
                   out: str | Path | None = "docs", progress: bool = True, log=print, train: bool = True,
                   cc: CompareConfig | None = None, metric_stand_ins: bool = False) -> dict:
    """Train and evaluate every (run, seed) not yet finished, then write the report into ``out``
    (``comparison.md``, ``comparison.json``, ``figures/comparison.png``; None: no report).
    ``only``: labels to run now (the report still shows every finished run); ``train=False``:
    only write the report of the finished runs (and list the unfinished ones in it).

    The evaluation's pretrained networks (LPIPS, InceptionV3) are loaded *before* any training:
    a missing file stops the command at once with its name, never after days of training.
    ``cc``: an already loaded config (dry runs); ``metric_stand_ins``: random networks where
    weights are missing (dry runs only)."""
    from ..metrics.models import metric_models
    from ..train import Trainer

    if cc is None:
        cc, train_path = load_compare_config(config, overrides)
    else:
        train_path = _train_path(cc, Path(config))
    if only:
        unknown = sorted(set(only) - {r.label for r in cc.runs})
        if unknown:
            raise ConfigError(f"--only: unknown label(s) {unknown}; the config has {[r.label for r in cc.runs]}")
    if cc.threads:
        torch.set_num_threads(cc.threads)
    ph = cc.eval.photos
    photos = list_images(ph) if isinstance(ph, str) else [Path(p) for p in ph] if ph else public_eval_photos()
    if not photos:
        raise FileNotFoundError("no evaluation photos (install scikit-image / matplotlib, or set eval.photos)")
    models = metric_models(cc.eval.metrics, cc.eval.lpips_weights, cc.eval.inception_weights, stand_ins=metric_stand_ins) if train else {}
    root = Path(cc.runs_dir)
    for run in cc.runs if train else []:
        if only and run.label not in only:
            continue
        for seed in run.seeds:
            d = root / run_slug(run.label, seed)
            if (d / "result.json").is_file():
                continue
            cfg = _train_config(cc, train_path, run, seed, d)
            log(f"[compare] {run.label} seed {seed}: training {cfg.optim.steps} steps in {d}")
            trainer = Trainer(cfg, resume=True, progress=progress)
            timing = _read_json(d / "timing.json") or {"train_seconds": 0.0}
            t0 = time.perf_counter()
            trainer.run()
            timing["train_seconds"] += time.perf_counter() - t0
            if D.rank() == 0:
                atomic_write_text(d / "timing.json", json.dumps(timing) + "\n")
            model = (trainer.ema or trainer.model).eval()
            t0 = time.perf_counter()
            res = evaluate_run(model, photos, cc.eval, cfg.data.train, seed=seed, progress=progress, models=models)
            res.update(label=run.label, seed=seed, quantizer=run.quantizer, recipe=run.recipe, steps=trainer.step,
                       train_seconds=timing["train_seconds"], eval_seconds=time.perf_counter() - t0,
                       threads=torch.get_num_threads(), processes=D.world_size())
            if D.rank() == 0:
                atomic_write_text(d / "result.json", json.dumps(json_safe(res), indent=1, allow_nan=False) + "\n")
                log(f"[compare] {run.label} seed {seed}: PSNR {res.get('psnr', math.nan):.2f} dB, {res['train_seconds']:.0f} s training")
            if D.is_distributed():
                torch.distributed.barrier()
    summary = summarize(cc, collect_results(cc))
    summary["unfinished"] = [f"{r.label} seed {sd}" for r in cc.runs for sd in r.seeds
                             if not (root / run_slug(r.label, sd) / "result.json").is_file()]
    if out is not None and D.rank() == 0:
        write_report(summary, cc, Path(out), config_path=Path(config), overrides=list(overrides))
    return summary


def _read_json(p: Path) -> dict | None:
    return json.loads(p.read_text()) if p.is_file() else None


def collect_results(cc: CompareConfig) -> dict[str, list[dict]]:
    """Finished results per label, in config order."""
    root = Path(cc.runs_dir)
    return {r.label: [x for s in r.seeds if (x := _read_json(root / run_slug(r.label, s) / "result.json"))] for r in cc.runs}


# (key in the summary, column title, higher is better, format)
COLUMNS = [
    ("bits_per_token", "bits/token", None, "{:.2f}"),
    ("psnr", "PSNR (dB)", True, "{:.2f}"),
    ("ssim", "SSIM", True, "{:.4f}"),
    ("ms_ssim", "MS-SSIM (photos)", True, "{:.4f}"),
    ("effnet_pd", "EffNet-PD", False, "{:.4f}"),
    ("effnet_fd", "EffNet-FD", False, "{:.2f}"),
    ("usage", "codes used", True, "{:.2%}"),
    ("perplexity", "perplexity", True, "{:,.0f}"),
    ("bpp_uniform", "bpp (uniform)", False, "{:.4f}"),
    ("bpp_context", "bpp (context prior)", False, "{:.4f}"),
    ("train_minutes", "train (min)", None, "{:.1f}"),
]


def _flat(r: dict) -> dict:
    u = r.get("usage") or {}
    c = r.get("codec") or {}
    return {
        "bits_per_token": r.get("bits_per_token"), "psnr": r.get("psnr"), "ssim": r.get("ssim"),
        "ms_ssim": (c.get("uniform") or {}).get("ms_ssim"), "effnet_pd": r.get("effnet_pd"), "effnet_fd": r.get("effnet_fd"),
        "usage": u.get("usage"), "perplexity": u.get("perplexity"),
        "bpp_uniform": (c.get("uniform") or {}).get("bpp"), "bpp_context": (c.get("context") or {}).get("bpp"),
        "train_minutes": r["train_seconds"] / 60 if "train_seconds" in r else None,
    }


def summarize(cc: CompareConfig, results: dict[str, list[dict]]) -> dict:
    """Per label: mean, min and max over seeds of each column, and the seeds present."""
    rows = []
    for run in cc.runs:
        rs = results.get(run.label) or []
        if not rs:
            continue
        flat = [_flat(r) for r in rs]
        row = {"label": run.label, "recipe": run.recipe, "quantizer": run.quantizer, "seeds": [r["seed"] for r in rs]}
        for key, *_ in COLUMNS:
            vals = [f[key] for f in flat if f[key] is not None and not (isinstance(f[key], float) and math.isnan(f[key]))]
            if vals:
                row[key] = {"mean": float(np.mean(vals)), "min": float(np.min(vals)), "max": float(np.max(vals))}
        rows.append(row)
    return {"name": cc.name, "rows": rows, "differences": _differences(rows)}


def _differences(rows: list[dict], reference: str | None = None) -> list[dict]:
    """The first row (the reference, Λ24-SQ in npq's configs) against each other row: difference
    of means and whether it exceeds the larger seed spread (max - min) of the two."""
    if not rows:
        return []
    ref = rows[0]
    out = []
    for row in rows[1:]:
        for key, _, higher, _ in COLUMNS:
            if higher is None or key not in ref or key not in row:
                continue
            a, b = ref[key], row[key]
            spread = max(a["max"] - a["min"], b["max"] - b["min"])
            multi = len(ref["seeds"]) > 1 and len(row["seeds"]) > 1
            diff = a["mean"] - b["mean"]
            out.append({"metric": key, "other": row["label"], "difference": diff, "spread": spread if multi else None,
                        "reference_better": (diff > 0) == bool(higher) and diff != 0,
                        "exceeds_spread": (abs(diff) > spread) if multi else None})
    return out


def _cell(v: dict | None, fmt: str) -> str:
    if v is None:
        return "–"
    s = fmt.format(v["mean"])
    if v["max"] > v["min"]:
        half = (v["max"] - v["min"]) / 2
        s += " ± " + fmt.format(half).lstrip("+")
    return s


def format_table(summary: dict) -> str:
    """Markdown table: mean over seeds ± half the seed range."""
    head = "| quantizer | seeds | " + " | ".join(c[1] for c in COLUMNS) + " |"
    lines = [head, "|" + "---|" * (len(COLUMNS) + 2)]
    for row in summary["rows"]:
        lines.append(f"| {row['label']} | {len(row['seeds'])} | " + " | ".join(_cell(row.get(k), f) for k, _, _, f in COLUMNS) + " |")
    return "\n".join(lines)


def plot_comparison(summary: dict, out: Path) -> list[Path]:
    """Bar chart in the style of the seed's figure: one panel per metric, one bar per quantizer,
    seed range as error bars."""
    from ..utils.figures import pyplot, save_figure

    plt = pyplot()
    keys = [("psnr", "PSNR (dB) ↑"), ("ssim", "SSIM ↑"), ("ms_ssim", "MS-SSIM ↑"), ("effnet_pd", "EffNet-PD ↓"),
            ("effnet_fd", "EffNet-FD ↓"), ("bpp_context", "bpp, context prior ↓")]
    rows = summary["rows"]
    fig, axes = plt.subplots(1, len(keys), figsize=(3.2 * len(keys), 3.6))
    colors = plt.get_cmap("tab10")
    for ax, (k, title) in zip(axes, keys):
        xs, ys, lo, hi = [], [], [], []
        for i, r in enumerate(rows):
            if k in r:
                xs.append(i)
                ys.append(r[k]["mean"])
                lo.append(r[k]["mean"] - r[k]["min"])
                hi.append(r[k]["max"] - r[k]["mean"])
        ax.bar(xs, ys, yerr=[lo, hi], color=[colors(i % 10) for i in xs], capsize=3)
        if ys:  # a zoomed axis (differences are small) that still shows the whole seed ranges
            lo_v = min(y - e for y, e in zip(ys, lo))
            hi_v = max(y + e for y, e in zip(ys, hi))
            span = hi_v - lo_v
            if span > 0:
                ax.set_ylim(lo_v - 0.5 * span, hi_v + 0.2 * span)
        ax.set_xticks(range(len(rows)))
        ax.set_xticklabels([r["label"] for r in rows], rotation=60, ha="right", fontsize=7)
        ax.set_title(title, fontsize=9)
    fig.suptitle(summary["name"], fontsize=10)
    fig.tight_layout()
    return save_figure(fig, out)


def write_report(summary: dict, cc: CompareConfig, out: Path, config_path: Path, overrides: list[str]) -> None:
    """``out/comparison.md``, ``out/comparison.json`` and ``out/figures/comparison.{png,svg}``."""
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "comparison.json", json.dumps(json_safe(summary), indent=1, allow_nan=False) + "\n")
    if summary["rows"]:
        plot_comparison(summary, out / "figures" / "comparison")
    cmd = " ".join(["npq compare", str(config_path), *overrides, "--out", str(out)])
    lines = [f"# Quantizer comparison: {cc.name}", "",
             f"Generated by `{cmd}` (results in `{cc.runs_dir}/`; re-running continues unfinished runs and rewrites this file).", "",
             "Mean over seeds ± half the seed range. PSNR, SSIM, EffNet-PD/FD and codebook usage on "
             + (f"the photos resized and center-cropped to {cc.eval.resize} px, in " if cc.eval.resize else "native-resolution ")
             + f"{cc.eval.tile}x{cc.eval.tile} tiles of the evaluation photos; MS-SSIM and bpp from real bitstreams of the "
             "whole photos (uniform prior: log2 K bits per token; context prior: fitted on tokens of the training photos). "
             "EffNet-PD / EffNet-FD are distances on EfficientNet-Lite0 features (LPIPS-style and Fréchet), not LPIPS or rFID.", "",
             format_table(summary), ""]
    if summary.get("unfinished"):
        lines += [f"**Not finished yet** (run the command again to continue): {', '.join(summary['unfinished'])}.", ""]
    lines += ["![comparison](figures/comparison.png)", ""]
    if cc.notes.strip():
        when = f"written {cc.notes_date} from the results then" if cc.notes_date else "undated"
        lines += [f"## Reading ({when}; the tables and the difference list are regenerated by the command above, "
                  "this prose is not: check it against them)", "", cc.notes.strip(), ""]
    lines += ["## Recipes", ""]
    for run in cc.runs:
        lines.append(f"- **{run.label}**: `{json.dumps(run.quantizer, ensure_ascii=False)}`" + (f" - {run.recipe}" if run.recipe else ""))
    diffs = [d for d in summary["differences"] if d["metric"] in ("psnr", "ssim", "effnet_pd", "effnet_fd", "bpp_context")]
    if diffs:
        ref = summary["rows"][0]["label"]
        lines += ["", f"## {ref} against each other quantizer", "",
                  "| other | metric | difference (ref − other) | seed spread | ref better | beyond spread |", "|---|---|---|---|---|---|"]
        for d in diffs:
            sp = "–" if d["spread"] is None else f"{d['spread']:.4g}"
            ex = "–" if d["exceeds_spread"] is None else ("yes" if d["exceeds_spread"] else "no")
            lines.append(f"| {d['other']} | {d['metric']} | {d['difference']:+.4g} | {sp} | {'yes' if d['reference_better'] else 'no'} | {ex} |")
    atomic_write_text(out / "comparison.md", "\n".join(lines) + "\n")
