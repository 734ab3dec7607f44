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
from ..codec.classic import CLASSIC_CODECS
from ..codec.codec import model_stages
from ..codec.rd import aggregate, bd_psnr, bd_rate, bitstream_point, classic_point, interp_psnr_at, npq_point, per_image_bd, plot_rd, write_json
from ..data.photos import load_rgb, public_eval_photos, sky_gradient
from ..utils.fileio import atomic_write_text
from ..utils.progress import progress_bar
from ..zoo import load_tokenizer, shipped_prior

__all__ = ["run_demo", "format_table", "format_ladder"]


def _png_b64(arr: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _crop(arr: np.ndarray, size: int = 192) -> np.ndarray:
    h, w = arr.shape[:2]
    s = min(size, h, w)
    return arr[(h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]


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
    for p in progress_bar(paths, "demo", progress):
        img = load_rgb(p)
        recs = []
        for k in levels:
            pt, rec = npq_point(img, tok, prior, k, refine)
            npq_pts[k - 1]["images"].append({"image": p.name, **pt})
            recs.append(rec)
        top = npq_pts[-1]["images"][-1]
        row = {"image": p.name, "size": f"{img.shape[1]}x{img.shape[0]}", "bpp": top["bpp"], "psnr": top["psnr"], "ms_ssim": top["ms_ssim"]}
        crop_set = [("original", _crop(img))] + [(f"npq level {k} ({npq_pts[k - 1]['images'][-1]['bpp']:.3f} bpp)", _crop(r)) for k, r in zip(levels, recs)]
        for c in CLASSIC_CODECS:
            closest = None
            for j, q in enumerate(CLASSIC_CODECS[c]):
                pt, crec = classic_point(img, c, q)
                classic_pts[c][j]["images"].append(pt)
                if closest is None or abs(pt["bpp"] - top["bpp"]) < abs(closest[0] - top["bpp"]):
                    closest = (pt["bpp"], crec)
            curve = ([x["images"][-1]["bpp"] for x in classic_pts[c]], [x["images"][-1]["psnr"] for x in classic_pts[c]])
            row[f"{c}_psnr_at_bpp"] = interp_psnr_at(top["bpp"], *curve)
            for k in levels:  # the codec at each level's rate, for the ladder table
                npq_pts[k - 1]["images"][-1][f"{c}_psnr_at_bpp"] = interp_psnr_at(npq_pts[k - 1]["images"][-1]["bpp"], *curve)
            crop_set.append((f"{c} ({closest[0]:.3f} bpp)", _crop(closest[1])))
        rows.append(row)
        crops.append((p.name, crop_set))

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
    sky_rows, sky_crops = [], [("original", _crop(sky, 256))]
    sky_tokens = {}
    for k in levels:
        res = compress(Image.fromarray(sky), tok, prior, stages=k, refine=refine)
        sky_tokens[k] = res.tokens
        pt, rec = bitstream_point(sky, res.data, tok, prior)
        sky_rows.append({"level": k, "bpp": pt["bpp"], "psnr": pt["psnr"]})
        sky_crops.append((f"level {k}: {pt['psnr']:.1f} dB", _crop(rec, 256)))
    extra = [(f"synthetic sky gradient ({sky_size[0]}x{sky_size[1]}, smooth: shows colour blotches)", sky_crops)]
    if training_sky and TRAINING_SKY[0].is_file():
        photo = load_rgb(TRAINING_SKY[0])[TRAINING_SKY[1]]
        items = [("original", photo)]
        for k in levels:
            pt, rec = npq_point(photo, tok, prior, k, refine)
            items.append((f"level {k}: {pt['psnr']:.1f} dB, {pt['bpp']:.3f} bpp", rec))
        extra.append((f"clear sky in a training photo ({TRAINING_SKY[0].name}, mate-backgrounds; trained on, shown only)", items))
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


def _write_report(path: Path, summary: dict, crops) -> None:
    rd = base64.b64encode((path.parent / "rd.png").read_bytes()).decode()
    crop_html = ""
    for name, items in crops:
        cells = "".join(
            f"<figure><img src='data:image/png;base64,{_png_b64(a)}' height=192><figcaption>{html.escape(t)}</figcaption></figure>"
            for t, a in items
        )
        crop_html += f"<h3>{html.escape(name)}</h3><div class='row'>{cells}</div>"
    bd = "".join(f"<li>{html.escape(c)}: BD-rate {_f(b['bd_rate'], '+.1f')}% on the mean curves, {_f(b['bd_rate_per_image'], '+.1f')}% per image "
                 f"({b['bd_rate_images']}/{b['images']} images overlap); BD-PSNR {_f(b['bd_psnr'], '+.2f')} dB</li>" for c, b in summary["bd"].items())
    sky = summary["sky"]
    doc = f"""<!doctype html><meta charset="utf-8"><title>npq demo</title>
<style>body{{font-family:sans-serif;max-width:1400px;margin:auto}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 6px;text-align:right}} .row{{display:flex;gap:8px;flex-wrap:wrap}}
figure{{margin:0}} figcaption{{font-size:12px;text-align:center}} img{{image-rendering:pixelated}}</style>
<h1>npq demo: the default tokenizer as an image codec</h1>
<p>{summary['images']} public evaluation photos, real bitstreams with the {html.escape(summary['prior'])} prior
(bpp = file bytes x 8 / pixels). Classic codecs (JPEG optimize + 4:2:0, WebP method 6, JPEG 2000 with
its colour transform) at the same bpp, interpolated per image in log-rate from their quality sweeps;
in brackets the number of images whose sweep reaches that rate (never extrapolated).</p>
<h2>Rate ladder (npq compress --quality k)</h2>{_table_html(summary['ladder_table'])}
<ul>{bd}</ul>
<h2>Rate-distortion</h2><img src="data:image/png;base64,{rd}" style="max-width:100%">
<h2>Per image at the top level</h2>{_table_html(summary['table'])}
<h2>Synthetic sky gradient</h2><p>{sky['distinct_first_stage']} distinct first-stage tokens and {sky['distinct_tokens']} distinct
tokens of all stages for its {sky['tokens']} patches; PSNR per level:
{", ".join(f"{r['level']}: {r['psnr']:.2f} dB ({r['bpp']:.3f} bpp)" for r in sky['levels'])}.</p>
<h2>Central crops (classic codecs at their setting closest to npq's top-level rate)</h2>{crop_html}"""
    atomic_write_text(path, doc)
