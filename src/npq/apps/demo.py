"""`npq demo`: the shipped default Λ24-SQ tokenizer as an image codec on the public evaluation photos.

Compresses every photo with the uniform and the learned prior (real bitstreams), decompresses and
checks them, sweeps JPEG, WebP and JPEG 2000 over their quality settings, and prints bpp, PSNR and
MS-SSIM per image with the classic codecs' PSNR at the same bpp (interpolated per image). Writes
``demo_out/report.html`` with side-by-side crops and the RD plot.
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

from ..codec.classic import CLASSIC_CODECS
from ..codec.rd import aggregate, classic_point, interp_psnr_at, npq_point, plot_rd, write_json
from ..data.photos import load_rgb, public_eval_photos
from ..utils.fileio import atomic_write_text
from ..utils.progress import progress_bar
from ..zoo import load_default, shipped_prior

__all__ = ["run_demo", "format_table"]


def _png_b64(arr: np.ndarray) -> str:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _crop(arr: np.ndarray, size: int = 192) -> np.ndarray:
    h, w = arr.shape[:2]
    s = min(size, h, w)
    return arr[(h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]




def run_demo(out_dir: str | Path = "demo_out", quick: bool = False, images: list | None = None, progress: bool = True) -> dict:
    """Run the demo; returns the summary and writes ``out_dir/report.html``, ``rd.png`` and JSON."""
    t_start = time.perf_counter()
    out_dir = Path(out_dir)
    model, prior = load_default()
    context = shipped_prior(kind="context")
    paths = [Path(p) for p in images] if images else public_eval_photos()
    if quick:
        paths = paths[:2]
    if not paths:
        raise FileNotFoundError("no public evaluation photos found (install scikit-image / matplotlib)")
    rows, classic_points, crops = [], {c: [] for c in CLASSIC_CODECS}, []
    for p in progress_bar(paths, "demo", progress):
        img = load_rgb(p)
        row = {"image": p.name, "size": f"{img.shape[1]}x{img.shape[0]}"}
        for label, pr in (("uniform", None), ("context", context), ("learned", prior)):
            if label != "uniform" and pr is None:
                continue
            pt, rec = npq_point(img, model, pr)
            row[f"bpp_{label}"] = pt["bpp"]
            row["psnr"], row["ms_ssim"] = pt["psnr"], pt["ms_ssim"]
            if label == "uniform":
                npq_rec = rec
        target = row.get("bpp_learned", row["bpp_uniform"])
        crop_set = [("original", _crop(img)), (f"npq Λ24-SQ ({target:.3f} bpp)", _crop(npq_rec))]
        for c in CLASSIC_CODECS:
            pts, closest = [], None
            for q in CLASSIC_CODECS[c]:
                pt, crec = classic_point(img, c, q)
                pts.append(pt)
                if closest is None or abs(pt["bpp"] - target) < abs(closest[0] - target):
                    closest = (pt["bpp"], crec)
            classic_points[c].append(pts)
            curve = ([x["bpp"] for x in pts], [x["psnr"] for x in pts])
            row[f"{c}_psnr_at_bpp"] = interp_psnr_at(target, *curve)
            row[f"{c}_psnr_at_uniform_bpp"] = interp_psnr_at(row["bpp_uniform"], *curve)
            if "bpp_context" in row:
                row[f"{c}_psnr_at_context_bpp"] = interp_psnr_at(row["bpp_context"], *curve)
            row[f"{c}_min_bpp"] = min(curve[0])
            crop_set.append((f"{c} ({closest[0]:.3f} bpp)", _crop(closest[1])))
        rows.append(row)
        crops.append((p.name, crop_set))

    def mean(key):
        vals = [r[key] for r in rows if key in r and not math.isnan(r[key])]
        return float(np.mean(vals)) if vals else math.nan

    keys = ["bpp_uniform", "bpp_context", "bpp_learned", "psnr", "ms_ssim"] + [
        f"{c}_{k}" for c in CLASSIC_CODECS for k in ("psnr_at_bpp", "psnr_at_context_bpp", "psnr_at_uniform_bpp", "min_bpp")]
    summary = {"images": len(rows), "mean": {k: mean(k) for k in keys}, "rows": rows}
    # paired comparisons: mean PSNR difference over the images where the codec reaches the rate
    comp = {}
    for c in CLASSIC_CODECS:
        for label, key in (("learned", f"{c}_psnr_at_bpp"), ("context", f"{c}_psnr_at_context_bpp"), ("uniform", f"{c}_psnr_at_uniform_bpp")):
            pairs = [(r["psnr"], r[key]) for r in rows if key in r and not math.isnan(r[key])]
            comp[f"{c}_{label}"] = {"images": len(pairs), "psnr_gain_db": float(np.mean([a - b for a, b in pairs])) if pairs else math.nan}
    summary["comparisons"] = comp
    # RD plot: classic codecs averaged per quality, npq as points
    results = []
    for c, per_img in classic_points.items():
        pts = [{"images": [per_img[i][k] for i in range(len(per_img))]} for k in range(len(CLASSIC_CODECS[c]))]
        results.append(aggregate(pts, c))
    for label in ("uniform", "context", "learned"):
        key = f"bpp_{label}"
        if all(key in r for r in rows):
            results.append({"name": f"npq Λ24-SQ ({label} prior)", "description": "", "results": {
                "bpp": [mean(key)], "psnr-rgb": [mean("psnr")], "ms-ssim": [mean("ms_ssim")]}})
    out_dir.mkdir(parents=True, exist_ok=True)
    plot_rd(results, out_dir / "rd", title="public evaluation photos (mean over images)")
    write_json({"summary": summary, "results": results}, out_dir / "results.json")
    summary["seconds"] = time.perf_counter() - t_start
    summary["table"] = format_table(rows, summary["mean"])
    _write_report(out_dir / "report.html", summary, crops)
    summary["report"] = str(out_dir / "report.html")
    return summary


def format_table(rows: list[dict], means: dict) -> str:
    head = ("| image | size | bpp (uniform) | bpp (context) | bpp (learned) | PSNR | MS-SSIM | JPEG PSNR @bpp | WebP PSNR @bpp | JPEG 2000 PSNR @bpp |\n"
            "|---|---|---|---|---|---|---|---|---|---|")  # classic codecs at the learned-prior rate

    def f(v, fmt):
        return "—" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)

    lines = [head]
    for r in rows + [dict(image="**mean**", size="", **means)]:
        lines.append(f"| {r['image']} | {r.get('size', '')} | {f(r.get('bpp_uniform'), '.4f')} | {f(r.get('bpp_context'), '.4f')} | {f(r.get('bpp_learned'), '.4f')} | "
                     f"{f(r.get('psnr'), '.2f')} | {f(r.get('ms_ssim'), '.4f')} | {f(r.get('jpeg_psnr_at_bpp'), '.2f')} | "
                     f"{f(r.get('webp_psnr_at_bpp'), '.2f')} | {f(r.get('jpeg2000_psnr_at_bpp'), '.2f')} |")
    return "\n".join(lines)


def _cell_html(text: str) -> str:
    """A Markdown table cell as HTML: escaped, ``**bold**`` as <b> (the mean row)."""
    t = text.strip()
    if len(t) > 4 and t.startswith("**") and t.endswith("**"):
        return f"<b>{html.escape(t[2:-2])}</b>"
    return html.escape(t)


def _write_report(path: Path, summary: dict, crops) -> None:
    rd = base64.b64encode((path.parent / "rd.png").read_bytes()).decode()
    table_rows = "".join(
        "<tr>" + "".join(f"<td>{_cell_html(c)}</td>" for c in line.strip("|").split("|")) + "</tr>"
        for line in summary["table"].splitlines()[2:]
    )
    heads = "".join(f"<th>{html.escape(h.strip())}</th>" for h in summary["table"].splitlines()[0].strip("|").split("|"))
    crop_html = ""
    for name, items in crops:
        cells = "".join(
            f"<figure><img src='data:image/png;base64,{_png_b64(a)}' width=192 height=192><figcaption>{html.escape(t)}</figcaption></figure>"
            for t, a in items
        )
        crop_html += f"<h3>{html.escape(name)}</h3><div class='row'>{cells}</div>"
    doc = f"""<!doctype html><meta charset="utf-8"><title>npq demo</title>
<style>body{{font-family:sans-serif;max-width:1200px;margin:auto}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 6px;text-align:right}} .row{{display:flex;gap:8px}}
figure{{margin:0}} figcaption{{font-size:12px;text-align:center}} img{{image-rendering:pixelated}}</style>
<h1>npq demo: Λ24-SQ tokenizer as an image codec</h1>
<p>{summary['images']} public evaluation photos, real bitstreams (bpp = file bytes x 8 / pixels).
Classic codecs' PSNR is interpolated per image at the npq model's bpp from their quality sweeps.</p>
<table><tr>{heads}</tr>{table_rows}</table>
<h2>Rate-distortion</h2><img src="data:image/png;base64,{rd}" style="max-width:100%">
<h2>Central crops (classic codecs at their setting closest to npq's rate)</h2>{crop_html}"""
    atomic_write_text(path, doc)
