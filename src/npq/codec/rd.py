"""Rate-distortion evaluation: npq models and classic codecs through one harness.

Real bitstream sizes only (bpp = bytes * 8 / pixels). Results per codec are stored in CompressAI's
``results`` JSON format (``{"name", "description", "results": {"bpp", "psnr-rgb", "ms-ssim"}}``,
one entry per operating point, averaged over images). BD-rate / BD-PSNR (Bjøntegaard, piecewise
cubic interpolation over the overlapping range) compare curves; a single-point npq model is
compared by the classic codec's interpolated PSNR at the same bpp and its bpp at the same PSNR.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from ..data.images import list_images
from ..data.photos import load_rgb
from ..metrics.image import MS_SSIM_MIN_SIDE, ms_ssim_per_image, psnr_per_image
from ..utils.figures import pyplot, save_figure
from ..utils.fileio import atomic_write_text
from ..utils.progress import progress_bar
from .classic import CLASSIC_CODECS, classic_roundtrip
from .codec import bits_per_pixel, compress, decompress, model_stages

__all__ = ["image_metrics", "classic_point", "npq_point", "sweep_classic", "aggregate", "bd_rate", "bd_psnr", "interp_psnr_at",
           "interp_bpp_at", "per_image_bd", "write_json", "json_safe", "result_file_name", "plot_rd", "load_images", "run_rd"]


def image_metrics(ref: np.ndarray, rec: np.ndarray) -> tuple[float, float]:
    """``(PSNR in dB on [0, 255] (at most 100), MS-SSIM or NaN if the image is under 161 px a side)``
    of two uint8 RGB arrays ``(H, W, 3)``."""
    x = torch.from_numpy(ref).permute(2, 0, 1)[None].double() / 255
    y = torch.from_numpy(rec).permute(2, 0, 1)[None].double() / 255
    psnr = float(psnr_per_image(x, y).clamp(max=100))
    ms = float(ms_ssim_per_image(x, y)) if min(ref.shape[:2]) >= MS_SSIM_MIN_SIDE else math.nan
    return psnr, ms


def _point(img: np.ndarray, data: bytes, rec: np.ndarray) -> tuple[dict, np.ndarray]:
    p, m = image_metrics(img, rec)
    return {"bpp": bits_per_pixel(len(data), *img.shape[:2]), "psnr": p, "ms_ssim": m}, rec


def classic_point(img: np.ndarray, codec: str, quality) -> tuple[dict, np.ndarray]:
    """``({bpp, psnr, ms_ssim}, decoded uint8 RGB (H, W, 3))`` of one uint8 RGB image ``(H, W, 3)``
    through a classic codec at one quality setting (:data:`~npq.codec.classic.CLASSIC_CODECS`)."""
    return _point(img, *classic_roundtrip(img, codec, quality))


def npq_point(img: np.ndarray, model, prior=None, stages: int | None = None, refine: int = 0) -> tuple[dict, np.ndarray]:
    """``({bpp, psnr, ms_ssim}, decoded uint8 RGB (H, W, 3))`` of one uint8 RGB image ``(H, W, 3)``
    through an npq model and prior (a real bitstream, decoded again); ``stages``: the rate level
    of a residual model (default: all); ``refine``: encoder-side refinement steps
    (:mod:`npq.codec.refine`)."""
    return bitstream_point(img, compress(Image.fromarray(img), model, prior, stages=stages, refine=refine).data, model, prior)


def bitstream_point(img: np.ndarray, data: bytes, model, prior=None) -> tuple[dict, np.ndarray]:
    """({bpp, psnr, ms_ssim}, decoded RGB) of an npq bitstream ``data`` of ``img``, decoded again."""
    return _point(img, data, np.array(decompress(data, model, prior).convert("RGB")))


def sweep_classic(images: Sequence[np.ndarray], codec: str, qualities: Sequence | None = None) -> list[dict]:
    """Per quality setting, ``{quality, images: [{bpp, psnr, ms_ssim}, ...]}`` of uint8 RGB images
    ``(H, W, 3)`` through one classic codec (default settings: its sweep in
    :data:`~npq.codec.classic.CLASSIC_CODECS`)."""
    return [{"quality": q, "images": [classic_point(img, codec, q)[0] for img in images]} for q in qualities or CLASSIC_CODECS[codec]]


def aggregate(points: list[dict], name: str, description: str = "") -> dict:
    """CompressAI-style results: mean over images per operating point, sorted by bpp."""
    res = {"bpp": [], "psnr-rgb": [], "ms-ssim": []}
    for pt in sorted(points, key=lambda p: np.mean([r["bpp"] for r in p["images"]])):
        res["bpp"].append(float(np.mean([r["bpp"] for r in pt["images"]])))
        res["psnr-rgb"].append(float(np.mean([r["psnr"] for r in pt["images"]])))
        ms = [r["ms_ssim"] for r in pt["images"] if not math.isnan(r["ms_ssim"])]
        res["ms-ssim"].append(float(np.mean(ms)) if ms else math.nan)
    return {"name": name, "description": description, "results": res}


def _monotone(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(x)
    x, y = x[order], y[order]
    keep = np.concatenate([[True], np.diff(x) > 0])
    return x[keep], y[keep]


def _integrate(x: np.ndarray, y: np.ndarray, lo: float, hi: float) -> float:
    from scipy.interpolate import PchipInterpolator

    x, y = _monotone(x, y)
    f = PchipInterpolator(x, y)
    return float(f.integrate(lo, hi))


def bd_psnr(bpp_a, psnr_a, bpp_b, psnr_b) -> float:
    """Average PSNR gain (dB) of curve b over curve a on the overlapping log-rate range."""
    la, lb = np.log(np.asarray(bpp_a)), np.log(np.asarray(bpp_b))
    lo, hi = max(la.min(), lb.min()), min(la.max(), lb.max())
    if hi <= lo or len(la) < 2 or len(lb) < 2:
        return math.nan
    ia = _integrate(la, np.asarray(psnr_a), lo, hi)
    ib = _integrate(lb, np.asarray(psnr_b), lo, hi)
    return (ib - ia) / (hi - lo)


def bd_rate(bpp_a, psnr_a, bpp_b, psnr_b) -> float:
    """Average rate difference (%) of curve b relative to curve a at equal PSNR (negative: b saves)."""
    pa, pb = np.asarray(psnr_a), np.asarray(psnr_b)
    lo, hi = max(pa.min(), pb.min()), min(pa.max(), pb.max())
    if hi <= lo or len(pa) < 2 or len(pb) < 2:
        return math.nan
    ia = _integrate(pa, np.log(np.asarray(bpp_a)), lo, hi)
    ib = _integrate(pb, np.log(np.asarray(bpp_b)), lo, hi)
    return (math.exp((ib - ia) / (hi - lo)) - 1) * 100


def interp_psnr_at(bpp: float, curve_bpp, curve_psnr) -> float:
    """A codec's PSNR at ``bpp`` (linear in log-rate; NaN outside its sweep)."""
    x, y = _monotone(np.log(np.asarray(curve_bpp)), np.asarray(curve_psnr))
    lb = math.log(bpp)
    return float(np.interp(lb, x, y)) if x[0] <= lb <= x[-1] else math.nan


def interp_bpp_at(psnr: float, curve_bpp, curve_psnr) -> float:
    """A codec's bpp at ``psnr`` (linear in log-rate; NaN outside its sweep)."""
    x, y = _monotone(np.asarray(curve_psnr), np.log(np.asarray(curve_bpp)))
    return float(math.exp(np.interp(psnr, x, y))) if x[0] <= psnr <= x[-1] else math.nan


def json_safe(obj):
    """NaN / inf -> None (JSON ``null``: bare ``NaN`` is not JSON), recursively."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [json_safe(v) for v in obj]
    return obj


def result_file_name(name: str) -> str:
    """A portable file name for a result: ``npq default (neural prior)`` -> ``npq_default_neural_prior``."""
    import re

    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("_") or "result"


def write_json(obj, path: str | Path) -> None:
    """Valid JSON (``null`` where a value is not a number: a sweep that does not reach it)."""
    atomic_write_text(path, json.dumps(json_safe(obj), indent=2, allow_nan=False))


def plot_rd(results: list[dict], out: str | Path, title: str = "") -> list[Path]:
    """PSNR-bpp and MS-SSIM-bpp plots (PNG and SVG) of CompressAI-style results (:func:`rd_figure`)."""
    return save_figure(rd_figure(results, title), out)


def rd_figure(results: list[dict], title: str = ""):
    """The matplotlib figure of :func:`plot_rd`. The rate axis is logarithmic and spans every point
    (low-rate learned codecs and high-rate classic sweeps both stay legible); the quality axes span
    every point with a small margin."""
    import matplotlib.ticker as mticker

    fig, axes = pyplot().subplots(1, 2, figsize=(12, 4.6))
    for r in results:
        res = r["results"]
        style = "o-" if len(res["bpp"]) > 1 else "*"
        ms = 14 if len(res["bpp"]) == 1 else 5
        axes[0].plot(res["bpp"], res["psnr-rgb"], style, ms=ms, label=r["name"])
        axes[1].plot(res["bpp"], res["ms-ssim"], style, ms=ms, label=r["name"])
    axes[0].set(xlabel="bpp (log scale)", ylabel="PSNR (dB)", title="PSNR vs rate")
    axes[1].set(xlabel="bpp (log scale)", ylabel="MS-SSIM", title="MS-SSIM vs rate")
    rates = [b for r in results for b in r["results"]["bpp"] if b is not None and np.isfinite(b) and b > 0]
    for a, key in zip(axes, ("psnr-rgb", "ms-ssim")):
        a.grid(alpha=0.3, which="both")
        if rates:
            a.set_xscale("log")
            a.set_xlim(min(rates) / 1.25, max(rates) * 1.25)
            a.xaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:g}"))
            a.xaxis.set_minor_formatter(mticker.NullFormatter())
        ys = [v for r in results for v in r["results"][key] if v is not None and np.isfinite(v)]
        if ys:
            pad = 0.05 * max(max(ys) - min(ys), 1e-3)
            a.set_ylim(min(ys) - pad, max(ys) + pad)
        a.legend(fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def per_image_bd(npq_pts: list[dict], codec_pts: list[dict]) -> dict:
    """BD-rate and BD-PSNR of an npq curve against a codec's, image by image (each over that
    image's overlapping range; images where the ranges do not overlap, or the npq curve has one
    point, are left out and counted), then averaged."""
    n_img = len(npq_pts[0]["images"])
    rates, psnrs = [], []
    for i in range(n_img):
        a = ([p["images"][i]["bpp"] for p in codec_pts], [p["images"][i]["psnr"] for p in codec_pts])
        b = ([p["images"][i]["bpp"] for p in npq_pts], [p["images"][i]["psnr"] for p in npq_pts])
        r, q = bd_rate(*a, *b), bd_psnr(*a, *b)
        if not math.isnan(r):
            rates.append(r)
        if not math.isnan(q):
            psnrs.append(q)
    return {"bd_rate_per_image": float(np.mean(rates)) if rates else math.nan, "bd_rate_images": len(rates),
            "bd_psnr_per_image": float(np.mean(psnrs)) if psnrs else math.nan, "bd_psnr_images": len(psnrs), "images": n_img}


def _compare(model_res: dict, codec_res: dict, model_pts: list[dict], codec_pts: list[dict]) -> dict:
    """One model against one classic codec: at each of the model's rate levels, the codec's PSNR
    at the model's mean rate and its rate at the model's PSNR (NaN where the codec's sweep does not
    reach: never extrapolated), and BD metrics over the overlapping range (mean curves, and per image)."""
    mr, cr = model_res["results"], codec_res
    levels = []
    for b, p in zip(mr["bpp"], mr["psnr-rgb"]):
        at_b, at_p = interp_psnr_at(b, cr["bpp"], cr["psnr-rgb"]), interp_bpp_at(p, cr["bpp"], cr["psnr-rgb"])
        levels.append({"bpp": b, "psnr": p, "codec_psnr_at_bpp": at_b, "codec_bpp_at_psnr": at_p, "psnr_gain_db": p - at_b,
                       # the BD-rate convention: positive = the model needs more bits than the codec
                       "rate_diff_pct": (b / at_p - 1) * 100 if not math.isnan(at_p) else math.nan})
    out = {**levels[-1], "levels": levels,
           "bd_psnr": bd_psnr(cr["bpp"], cr["psnr-rgb"], mr["bpp"], mr["psnr-rgb"]),
           "bd_rate": bd_rate(cr["bpp"], cr["psnr-rgb"], mr["bpp"], mr["psnr-rgb"])}
    out.update(per_image_bd(model_pts, codec_pts))
    return out


def load_images(data: str | Path) -> list[tuple[str, np.ndarray]]:
    """(name, RGB uint8) of every image under ``data``."""
    return [(p.name, load_rgb(p)) for p in list_images(data)]


def run_rd(
    data: str | Path,
    models: Sequence[tuple] = (),
    codecs: Sequence[str] = ("jpeg", "webp", "jpeg2000"),
    out_dir: str | Path | None = None,
    progress: bool = True,
) -> dict:
    """Evaluate npq models ``(name, tokenizer, prior or None[, refinement steps])`` and classic
    codecs on ``data``.

    Returns ``{"results": [CompressAI-style dicts], "per_image": ..., "comparisons": [...]}`` and,
    with ``out_dir``, writes one JSON per codec, ``comparisons.json`` and the RD plots.
    """
    images = load_images(data)
    results, per_image = [], {}
    for c in progress_bar(list(codecs), "classic codecs", progress):
        pts = sweep_classic([im for _, im in images], c)
        results.append(aggregate(pts, c, f"Pillow {c}, quality sweep {CLASSIC_CODECS[c]}"))
        per_image[c] = pts
    for name, model, prior, *rest in models:
        refine = rest[0] if rest else 0
        levels = range(1, model_stages(model)[0] + 1)  # the rate ladder of a residual model
        pts = [{"quality": m, "images": [{"image": fname, **npq_point(img, model, prior, m, refine)[0]} for fname, img in images]}
               for m in progress_bar(levels, name, progress and refine > 0)]
        results.append(aggregate(pts, name, "npq tokenizer, real bitstream" + (f", {len(pts)} rate levels" if len(pts) > 1 else "")))
        per_image[name] = pts
    comparisons = []
    classic = {r["name"]: r["results"] for r in results if r["name"] in codecs}
    for r in results:
        if r["name"] in codecs:
            continue
        for cname, cres in classic.items():
            comparisons.append(_compare(r, cres, per_image[r["name"]], per_image[cname]))
            comparisons[-1].update(model=r["name"], codec=cname)
    out = {"results": results, "per_image": per_image, "comparisons": comparisons}
    if out_dir is not None:
        out_dir = Path(out_dir)
        for r in results:
            write_json(r, out_dir / f"{result_file_name(r['name'])}.json")
        write_json(comparisons, out_dir / "comparisons.json")
        write_json(per_image, out_dir / "per_image.json")
        plot_rd(results, out_dir / "rd")
    return out
