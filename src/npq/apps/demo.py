"""`npq demo`: the shipped default tokenizer as an image codec on the public evaluation photos.

Compresses every photo at every rate level of the model (``npq compress --quality 1..K``: the first
k residual stages) with the shipped default prior (real bitstreams, decoded again), sweeps JPEG,
WebP and JPEG 2000 over their quality settings at their best documented settings, and reports per
level the mean bpp, PSNR and MS-SSIM with the classic codecs' PSNR at the same bpp (interpolated per
image in log-rate, never extrapolated), BD-rate / BD-PSNR of the ladder against each codec, and a
smooth synthetic sky (the case that shows colour blotches) at every level. Writes
``demo_out/report.html`` (tables, RD plot, crops), ``rd.png`` and ``results.json``.
"""

from __future__ import annotations

import base64
import html
import io
import math
import time
from pathlib import Path

import numpy as np
from PIL import Image

from ..codec import compress
from ..codec.classic import CLASSIC_CODECS, classic_at_rate
from ..codec.codec import DEFAULT_QUALITY, model_stages
from ..codec.rd import aggregate, bd_psnr, bd_rate, bitstream_point, classic_point, interp_psnr_at, npq_point, per_image_bd, plot_rd, write_json
from ..data.photos import load_rgb, public_eval_photos, sky_gradient
from ..metrics.image import psnr_uint8
from ..utils.fileio import atomic_write_text
from ..utils.progress import progress_bar
from ..zoo import load_tokenizer, shipped_prior

__all__ = ["run_demo", "format_table", "format_ladder"]


def _png_b64(arr: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


CROP = (72, 144)  # (height, width) of the region shown per photo, drawn at 2x
CODEC_NAMES = {"jpeg": "JPEG", "webp": "WebP", "jpeg2000": "JPEG 2000"}


def _crop(arr: np.ndarray, size: int = 192) -> np.ndarray:
    h, w = arr.shape[:2]
    s = min(size, h, w)
    return arr[(h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]


def most_different_region(decodes: list[np.ndarray], size: tuple[int, int] = CROP) -> tuple[slice, slice]:
    """The ``size`` (height, width) window where ``decodes`` (same-shape RGB uint8 arrays, two or
    more) differ most from each other: the largest sum over the window of their per-pixel
    variance, found with an integral image. Clamped to the image where it is smaller."""
    stack = np.stack([d.astype(np.float64) for d in decodes])
    var = stack.var(axis=0).sum(axis=-1)  # (H, W)
    h, w = min(size[0], var.shape[0]), min(size[1], var.shape[1])
    ii = np.pad(var.cumsum(0).cumsum(1), ((1, 0), (1, 0)))
    sums = ii[h:, w:] - ii[:-h, w:] - ii[h:, :-w] + ii[:-h, :-w]  # window sums, (H-h+1, W-w+1)
    y, x = np.unravel_index(int(np.argmax(sums)), sums.shape)
    return slice(y, y + h), slice(x, x + w)


def _caption(label: str, bpp: float, psnr: float, crop_psnr: float | None = None, note: str = "") -> tuple[str, str]:
    """(title, detail) of one crop: whole-image bpp and PSNR, and the crop's own PSNR."""
    detail = f"{bpp:.3f} bpp · {psnr:.2f} dB" + (f" (crop {crop_psnr:.2f} dB)" if crop_psnr is not None else "") + note
    return label, detail


def _photo_crops(name: str, img: np.ndarray, shown: list[tuple[int, dict, np.ndarray]]) -> dict:
    """The crop grid of one photo: per shown npq level (level, point, decode) a row of npq and each
    classic codec at the setting whose rate is nearest that level's, all cut to the region where
    they differ most; the original spans the rows."""
    rows = []
    for k, pt, rec in shown:
        row = [(f"npq level {k}" + (" (default)" if k == DEFAULT_QUALITY else ""), pt, rec, "")]
        for c in CLASSIC_CODECS:
            setting, data, crec = classic_at_rate(img, c, pt["bpp"])
            cpt = {"bpp": len(data) * 8 / (img.shape[0] * img.shape[1]), "psnr": psnr_uint8(img, crec)}
            off = cpt["bpp"] / pt["bpp"] - 1
            note = f", nearest it reaches ({off:+.0%})" if abs(off) > 0.1 else ""
            row.append((f"{CODEC_NAMES[c]} ({'ratio' if c == 'jpeg2000' else 'q'} {setting:.0f})", cpt, crec, note))
        rows.append(row)
    ys, xs = most_different_region([r[2] for row in rows for r in row])
    orig = img[ys, xs]
    grid = [[_caption(lbl, p["bpp"], p["psnr"], psnr_uint8(orig, a[ys, xs]), note), a[ys, xs]] for lbl, p, a, note in (x for row in rows for x in row)]
    return {"title": f"{name}: rows {ys.start}-{ys.stop}, columns {xs.start}-{xs.stop} (where the decodes differ most)",
            "original": (("original", "24 bpp · lossless"), orig), "rows": [grid[i * len(rows[0]) : (i + 1) * len(rows[0])] for i in range(len(rows))]}


# a clear sky over the sea in a training photo (mate-backgrounds): the smooth-gradient case, as a
# real photo beside the synthetic one (it was trained on, so it is shown, never scored as evaluation)
TRAINING_SKY = (Path("/usr/share/backgrounds/mate/nature/Dune.jpg"), (slice(0, 256), slice(1200, 1680)))


def _distinct_tokens(level1: np.ndarray, top: np.ndarray) -> tuple[int, int]:
    """(distinct tokens of the level-1 file, distinct token tuples of the top-level file) from
    their token grids (h, w[, stages]): few means flat bands or blotches at that rate."""
    return len(np.unique(level1.reshape(-1))), len(np.unique(top.reshape(top.shape[0] * top.shape[1], -1), axis=0))


def _mean(vals) -> float:
    vals = [v for v in vals if not math.isnan(v)]
    return float(np.mean(vals)) if vals else math.nan


def run_demo(out_dir: str | Path = "demo_out", quick: bool = False, images: list | None = None, progress: bool = True,
             model: str | Path | None = None, sky_size: tuple[int, int] = (768, 512), training_sky: bool = True,
             refine: int = 0) -> dict:
    """Run the demo with a model (default: the shipped default and its default prior); returns the
    summary and writes ``out_dir/report.html``, ``rd.png`` and ``results.json``. ``sky_size``:
    (width, height) of the synthetic sky; ``training_sky``: also show the training photo's sky;
    ``refine``: encoder-side refinement steps for every npq file (:mod:`npq.codec.refine`)."""
    t_start = time.perf_counter()
    out_dir = Path(out_dir)
    tok, _ = load_tokenizer(model)
    prior = shipped_prior(model)
    prior_name = prior.name if prior is not None else "uniform"
    levels = list(range(1, model_stages(tok)[0] + 1))
    paths = [Path(p) for p in images] if images else public_eval_photos()
    if quick:
        paths = paths[:2]
    if not paths:
        raise FileNotFoundError("no public evaluation photos found (install scikit-image / matplotlib)")
    # npq_pts[k]["images"][i]: level k, image i; classic_pts[c][q]["images"][i]: codec c, setting q
    npq_pts = [{"quality": k, "images": []} for k in levels]
    classic_pts = {c: [{"quality": q, "images": []} for q in CLASSIC_CODECS[c]] for c in CLASSIC_CODECS}
    rows, crops = [], []
    crop_levels = sorted({min(DEFAULT_QUALITY, levels[-1]), levels[-1]})  # the default level and the top one
    for p in progress_bar(paths, "demo", progress):
        img = load_rgb(p)
        recs = []
        for k in levels:
            pt, rec = npq_point(img, tok, prior, k, refine)
            npq_pts[k - 1]["images"].append({"image": p.name, **pt})
            recs.append(rec)
        top = npq_pts[-1]["images"][-1]
        row = {"image": p.name, "size": f"{img.shape[1]}x{img.shape[0]}", "bpp": top["bpp"], "psnr": top["psnr"], "ms_ssim": top["ms_ssim"]}
        for c in CLASSIC_CODECS:
            for j, q in enumerate(CLASSIC_CODECS[c]):
                classic_pts[c][j]["images"].append(classic_point(img, c, q)[0])
            curve = ([x["images"][-1]["bpp"] for x in classic_pts[c]], [x["images"][-1]["psnr"] for x in classic_pts[c]])
            row[f"{c}_psnr_at_bpp"] = interp_psnr_at(top["bpp"], *curve)
            for k in levels:  # the codec at each level's rate, for the ladder table
                npq_pts[k - 1]["images"][-1][f"{c}_psnr_at_bpp"] = interp_psnr_at(npq_pts[k - 1]["images"][-1]["bpp"], *curve)
        rows.append(row)
        crops.append(_photo_crops(p.name, img, [(k, npq_pts[k - 1]["images"][-1], recs[k - 1]) for k in crop_levels]))

    ladder = []
    for k, pt in zip(levels, npq_pts):
        ims = pt["images"]
        lv = {"level": k, "bpp": _mean([r["bpp"] for r in ims]), "psnr": _mean([r["psnr"] for r in ims]),
              "ms_ssim": _mean([r["ms_ssim"] for r in ims])}
        for c in CLASSIC_CODECS:
            pairs = [(r["psnr"], r[f"{c}_psnr_at_bpp"]) for r in ims if not math.isnan(r[f"{c}_psnr_at_bpp"])]
            lv[f"{c}_psnr_at_bpp"] = _mean([b for _, b in pairs])
            lv[f"{c}_images"] = len(pairs)
            lv[f"{c}_psnr_gain_db"] = _mean([a - b for a, b in pairs])
        ladder.append(lv)
    name = f"npq {tok.quantizer.__class__.__name__}" if model else "npq default"
    results = [aggregate(classic_pts[c], c) for c in CLASSIC_CODECS]
    label = f"{name} ({prior_name} prior{f', refine {refine}' if refine else ''})"
    results.append(aggregate(npq_pts, label, f"{len(levels)} rate levels (--quality), real bitstreams"))
    bd = {}
    for c, res in zip(CLASSIC_CODECS, results):
        m, r = results[-1]["results"], res["results"]
        bd[c] = {"bd_rate": bd_rate(r["bpp"], r["psnr-rgb"], m["bpp"], m["psnr-rgb"]),
                 "bd_psnr": bd_psnr(r["bpp"], r["psnr-rgb"], m["bpp"], m["psnr-rgb"]), **per_image_bd(npq_pts, classic_pts[c])}
    sky = sky_gradient(*sky_size)
    sky_rows, sky_crops = [], [(("original", "24 bpp · lossless"), _crop(sky, 256))]
    sky_tokens = {}
    for k in levels:
        res = compress(Image.fromarray(sky), tok, prior, stages=k, refine=refine)
        sky_tokens[k] = res.tokens
        pt, rec = bitstream_point(sky, res.data, tok, prior)
        sky_rows.append({"level": k, "bpp": pt["bpp"], "psnr": pt["psnr"]})
        sky_crops.append((_caption(f"npq level {k}", pt["bpp"], pt["psnr"]), _crop(rec, 256)))
    extra = [{"title": f"synthetic sky gradient ({sky_size[0]}x{sky_size[1]}, smooth: shows colour blotches), central crop at 1x",
              "rows": [sky_crops]}]
    if training_sky and TRAINING_SKY[0].is_file():
        photo = load_rgb(TRAINING_SKY[0])[TRAINING_SKY[1]]
        items = [(("original", "24 bpp · lossless"), _crop(photo, 256))]
        for k in levels:
            pt, rec = npq_point(photo, tok, prior, k, refine)
            items.append((_caption(f"npq level {k}", pt["bpp"], pt["psnr"]), _crop(rec, 256)))
        extra.append({"title": f"clear sky in a training photo ({TRAINING_SKY[0].name}, mate-backgrounds; trained on, shown only), central crop at 1x",
                      "rows": [items]})
    summary = {"images": len(rows), "prior": prior_name, "refine": refine, "levels": ladder, "bd": bd, "rows": rows,
               "mean": {k: _mean([r[k] for r in rows]) for k in ("bpp", "psnr", "ms_ssim", *(f"{c}_psnr_at_bpp" for c in CLASSIC_CODECS))},
               "sky": {"levels": sky_rows, "tokens": math.prod(sky.shape[:2]) // tok.downsample**2}}
    summary["sky"]["distinct_first_stage"], summary["sky"]["distinct_tokens"] = _distinct_tokens(sky_tokens[1], sky_tokens[levels[-1]])
    out_dir.mkdir(parents=True, exist_ok=True)
    plot_rd(results, out_dir / "rd", title="public evaluation photos (mean over images)")
    write_json({"summary": summary, "results": results, "per_image": {"npq": npq_pts, **classic_pts}}, out_dir / "results.json")
    summary["seconds"] = time.perf_counter() - t_start
    summary["ladder_table"] = format_ladder(ladder)
    summary["table"] = format_table(rows, summary["mean"])
    _write_report(out_dir / "report.html", summary, crops + extra)
    summary["report"] = str(out_dir / "report.html")
    return summary


def _f(v, fmt: str) -> str:
    return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)


def format_ladder(ladder: list[dict]) -> str:
    """Markdown table: one row per rate level, means over the images (classic codecs over the
    images whose sweep reaches that rate, count in brackets)."""
    n = "n/a"
    lines = ["| level (--quality) | bpp | PSNR | MS-SSIM | JPEG PSNR @bpp | WebP PSNR @bpp | JPEG 2000 PSNR @bpp |", "|---|---|---|---|---|---|---|"]
    for lv in ladder:
        cells = [f"{_f(lv[f'{c}_psnr_at_bpp'], '.2f')} ({lv.get(f'{c}_images', n)})" for c in ("jpeg", "webp", "jpeg2000")]
        lines.append(f"| {lv['level']} | {_f(lv['bpp'], '.4f')} | {_f(lv['psnr'], '.2f')} | {_f(lv['ms_ssim'], '.4f')} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def format_table(rows: list[dict], means: dict) -> str:
    """Markdown table: one row per image at the top rate level, classic codecs at the same bpp."""
    lines = ["| image | size | bpp | PSNR | MS-SSIM | JPEG PSNR @bpp | WebP PSNR @bpp | JPEG 2000 PSNR @bpp |", "|---|---|---|---|---|---|---|---|"]
    for r in rows + [dict(image="**mean**", size="", **means)]:
        lines.append(f"| {r['image']} | {r.get('size', '')} | {_f(r.get('bpp'), '.4f')} | {_f(r.get('psnr'), '.2f')} | {_f(r.get('ms_ssim'), '.4f')} | "
                     f"{_f(r.get('jpeg_psnr_at_bpp'), '.2f')} | {_f(r.get('webp_psnr_at_bpp'), '.2f')} | {_f(r.get('jpeg2000_psnr_at_bpp'), '.2f')} |")
    return "\n".join(lines)


def _cell_html(text: str) -> str:
    """A Markdown table cell as HTML: escaped, ``**bold**`` as <b> (the mean row)."""
    t = text.strip()
    if len(t) > 4 and t.startswith("**") and t.endswith("**"):
        return f"<b>{html.escape(t[2:-2])}</b>"
    return html.escape(t)


def _table_html(table: str) -> str:
    lines = table.splitlines()
    heads = "".join(f"<th>{html.escape(h.strip())}</th>" for h in lines[0].strip("|").split("|"))
    body = "".join("<tr>" + "".join(f"<td>{_cell_html(c)}</td>" for c in line.strip("|").split("|")) + "</tr>" for line in lines[2:])
    return f"<table><tr>{heads}</tr>{body}</table>"


def _figure(caption: tuple[str, str], arr: np.ndarray, scale: float, cls: str = "") -> str:
    h, w = arr.shape[:2]
    title, detail = caption
    return (f"<figure class='{cls}'><img src='data:image/png;base64,{_png_b64(arr)}' width={round(w * scale)} height={round(h * scale)} alt='{html.escape(title)}'>"
            f"<figcaption><b>{html.escape(title)}</b><br>{html.escape(detail)}</figcaption></figure>")


def _crops_html(block: dict) -> str:
    """One crop block as a CSS grid: a fixed column per codec (the original spanning the rows)."""
    scale = block.get("scale", 2.0 if "original" in block else 1.0)
    cells = ""
    n_cols = max(len(r) for r in block["rows"]) + ("original" in block)
    for i, row in enumerate(block["rows"]):
        if i == 0 and "original" in block:
            cells += _figure(*block["original"], scale, f"span{len(block['rows'])}")
        cells += "".join(_figure(c, a, scale) for c, a in row)
    return (f"<h3>{html.escape(block['title'])}</h3>"
            f"<div class='crops' style='grid-template-columns:repeat({n_cols},max-content)'>{cells}</div>")


def _write_report(path: Path, summary: dict, crops: list[dict]) -> None:
    rd = base64.b64encode((path.parent / "rd.png").read_bytes()).decode()
    crop_html = "".join(_crops_html(b) for b in crops)
    bd = "".join(f"<li>{html.escape(c)}: BD-rate {_f(b['bd_rate'], '+.1f')}% on the mean curves, {_f(b['bd_rate_per_image'], '+.1f')}% per image "
                 f"({b['bd_rate_images']}/{b['images']} images overlap); BD-PSNR {_f(b['bd_psnr'], '+.2f')} dB</li>" for c, b in summary["bd"].items())
    sky = summary["sky"]
    doc = f"""<!doctype html><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>npq demo</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1560px;margin:0 auto;padding:16px 32px 48px;line-height:1.4;color:#222}}
table{{border-collapse:collapse;margin:8px 0}} td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}} th{{background:#f3f3f3}}
.crops{{display:grid;gap:10px 8px;margin-bottom:28px;overflow-x:auto}} figure{{margin:0}} .span2{{grid-row:span 2}} .span3{{grid-row:span 3}}
figcaption{{font-size:12px;line-height:1.3;margin-top:2px}} img{{image-rendering:pixelated;display:block;max-width:100%;height:auto}}
.rd{{max-width:100%;height:auto;image-rendering:auto}} h3{{font-size:15px;margin:18px 0 6px}}</style>
<h1>npq demo: the default tokenizer as an image codec</h1>
<p>{summary['images']} public evaluation photos, real bitstreams with the {html.escape(summary['prior'])} prior
(bpp = file bytes x 8 / pixels). Classic codecs (JPEG optimize + 4:2:0, WebP method 6, JPEG 2000 with
its colour transform) at the same bpp, interpolated per image in log-rate from their quality sweeps;
in brackets the number of images whose sweep reaches that rate (never extrapolated).</p>
<h2>Rate ladder (npq compress --quality k)</h2>{_table_html(summary['ladder_table'])}
<ul>{bd}</ul>
<h2>Rate-distortion</h2><img class="rd" src="data:image/png;base64,{rd}" alt="rate-distortion curves">
<h2>Per image at the top level</h2>{_table_html(summary['table'])}
<h2>Synthetic sky gradient</h2><p>{sky['distinct_first_stage']} distinct first-stage tokens and {sky['distinct_tokens']} distinct
tokens of all stages for its {sky['tokens']} patches; PSNR per level:
{", ".join(f"{r['level']}: {r['psnr']:.2f} dB ({r['bpp']:.3f} bpp)" for r in sky['levels'])}.</p>
<h2>Crops</h2><p>Per photo, the {CROP[1]}x{CROP[0]} region where the decodes differ most, drawn at 2x: one row per
npq rate level shown (the default and the top level), each classic codec at the setting whose rate is nearest
that level's over its whole range. Captions: the whole image's bpp and PSNR, and the crop's PSNR.</p>{crop_html}"""
    atomic_write_text(path, doc)
