"""The grand tableau: every quantization method as a lattice code, with numbers computed live.

Inputs for the error columns are uniform on the unit sphere S^{d-1}; every method is applied
through its own ``forward`` (so LFQ and FSQ are measured on their raw codes). Closed forms are
used where they exist (binary codes, symmetric shells) and Monte-Carlo estimates elsewhere; the
``exact`` flags say which.
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable
from dataclasses import dataclass

import torch

from ..lattices import LeechCode
from ..lattices.leech import CLASS_SIZES
from ..quantize import FSQ, SphericalCodeQuantizer, VectorQuantizer, entries, make
from ..quantize.base import Quantizer
from ..utils.progress import progress_bar
from .dmin import chord_from_deg, has_collinear_codes, min_angle, min_angle_bruteforce
from .sphere import cap_mse_lower_bound, mean_abs_coordinate, uniform_sphere

__all__ = ["RowSpec", "default_rows", "KEYS", "compute_tableau", "format_tableau"]

KEYS = [
    "method", "construction", "constraints", "dim", "codebook_size", "bits", "dmin_chord", "dmin_deg",
    "dmin_exact", "mse", "mse_se", "mse_mc", "mse_closed_form", "mse_bound", "mse_over_bound",
    "max_ste_error", "max_ste_error_exact", "voronoi_entropy", "voronoi_entropy_exact", "needs_entropy_reg",
]


@dataclass
class RowSpec:
    """One row: a method name, how to build its quantizer, and what the tableau may assume."""

    method: str
    build: Callable[[], Quantizer]
    construction: str
    constraints: str
    needs_entropy_reg: bool
    kind: str = "generic"  # "lfq", "bsq", "transitive" (symmetric shell), "leech-subset", "generic"


def fsq_integer_codes(q: FSQ) -> torch.Tensor:
    """FSQ's codes times lcm(⌊L_i/2⌋) as exact integer vectors ``(N, d)`` (code i = digit / ⌊L_i/2⌋)."""
    half = [lv // 2 for lv in q.levels]
    lcm = math.lcm(*half)
    idx = torch.arange(q.codebook_size)
    basis = torch.cumprod(torch.tensor([1] + q.levels[:-1]), 0)
    digits = (idx[:, None] // basis) % torch.tensor(q.levels) - torch.tensor(half)
    return digits * torch.tensor([lcm // h for h in half])


def _learnable_vq(seed: int = 0) -> Quantizer:
    """Learnable VQ for contrast: K = 1024, d = 24, spherical k-means on uniform sphere samples."""
    vq = VectorQuantizer(24, 1024, distance="cosine", init="kmeans", kmeans_iters=10, seed=seed).train()
    with torch.no_grad():
        vq(uniform_sphere(16384, 24, seed=seed + 99, dtype=torch.float32))
    return vq.eval()


def _leech_classes(classes: str, construction: str, constraints: str) -> RowSpec:
    label = "classes" if "+" in classes else "class"
    return RowSpec(f"Λ24-SQ {label} {classes}", lambda: make("leech-subset", classes=classes), construction, constraints, False, "leech-subset")


def default_rows() -> list[RowSpec]:
    """Every registered quantizer with a tableau instance (registry order), then the analyses:
    a second Fibonacci size, the Λ24 shape classes and a learnable VQ for contrast."""
    rows = [RowSpec(e.label(e.tableau), lambda e=e: e.build(e.tableau), e.construction, e.constraints, e.needs_entropy_reg, e.geometry)
            for e in entries() if e.tableau is not None]
    return rows + [
        RowSpec("Fibonacci F_24(2^14)", lambda: make("fibonacci", codebook_size=2**14, dim=24), "generalized Fibonacci spiral", "‖λ‖ = 1", False),
        _leech_classes("A", "Λ24 shell, shape (±4,±4,0²²)", "‖λ‖² = 32, shape class"),
        _leech_classes("B", "Λ24 shell, shape (±2⁸,0¹⁶) on octads", "‖λ‖² = 32, shape class"),
        _leech_classes("C", "Λ24 shell, shape (∓3,±1²³)", "‖λ‖² = 32, shape class"),
        _leech_classes("A+B", "Λ24 shell, even vectors", "‖λ‖² = 32, shape classes"),
        RowSpec("Learnable VQ (k-means)", _learnable_vq, "K = 1024 learned vectors (spherical k-means)", "learned, ‖λ‖ = 1", False),
    ]


def _row(spec: RowSpec, samples: int, seed: int) -> dict:
    q = spec.build().eval()
    d, n_codes = q.dim, q.codebook_size
    row: dict = {"method": spec.method, "construction": spec.construction, "constraints": spec.constraints,
                 "dim": d, "codebook_size": n_codes, "bits": q.bits_per_token, "needs_entropy_reg": spec.needs_entropy_reg}
    # an independent stream: seed 0 of the codebook generators must not reproduce the inputs
    u = uniform_sphere(samples, d, seed=seed + 1_000_003, dtype=torch.float32)
    with torch.no_grad():
        out = q(u)
    err2 = (out.z_q.double() - u.double()).pow(2).sum(-1)
    row["mse_mc"] = float(err2.mean())
    row["mse_se"] = float(err2.std() / math.sqrt(samples))
    mc_max_ste = float(err2.max().sqrt())

    # minimum angle
    if spec.kind in ("lfq", "bsq"):
        row["dmin_chord"], row["dmin_exact"] = 2 / math.sqrt(d), True
        row["dmin_deg"] = math.degrees(2 * math.asin(1 / math.sqrt(d)))
    else:
        if isinstance(q, SphericalCodeQuantizer):
            deg, exact = min_angle(q.code)
        elif isinstance(q, FSQ) and has_collinear_codes(fsq_integer_codes(q)):
            deg, exact = 0.0, True  # e.g. (1/4, 0, ...) and (1/2, 0, ...): collinear after normalization
        else:
            deg, exact = min_angle_bruteforce(q.decode(torch.arange(n_codes))), True
        row["dmin_deg"], row["dmin_chord"], row["dmin_exact"] = deg, chord_from_deg(deg), exact

    # closed forms
    e1 = mean_abs_coordinate(d)
    closed = None
    if spec.kind == "lfq":
        closed = 1 + d - 2 * d * e1  # E||u - sign(u)||^2
        row["max_ste_error"], row["max_ste_error_exact"] = math.sqrt(d - 1), True  # u on an axis
    elif spec.kind == "bsq":
        closed = 2 - 2 * math.sqrt(d) * e1
        row["max_ste_error"], row["max_ste_error_exact"] = math.sqrt(2 - 2 / math.sqrt(d)), True
    elif spec.method == "A2-SQ":
        row["max_ste_error"], row["max_ste_error_exact"] = 2 * math.sin(math.radians(15)), True  # 30° from a code
    if "max_ste_error" not in row:
        row["max_ste_error"], row["max_ste_error_exact"] = mc_max_ste, False
    row["mse_closed_form"] = closed
    row["mse"] = closed if closed is not None else row["mse_mc"]
    row["mse_bound"] = cap_mse_lower_bound(n_codes, d)
    row["mse_over_bound"] = row["mse"] / row["mse_bound"]

    # entropy of the Voronoi-cell masses (probability of each cell under the uniform measure)
    if spec.kind in ("lfq", "bsq", "transitive"):
        row["voronoi_entropy"], row["voronoi_entropy_exact"] = math.log2(n_codes), True  # all cells congruent
    elif spec.kind == "leech-subset":
        code: LeechCode = q.code
        cls_of = torch.zeros(n_codes, dtype=torch.int64)
        for i, c in enumerate(code.classes):
            cls_of[code.offsets[c] : code.offsets[c] + CLASS_SIZES[c]] = i
        mass = torch.bincount(cls_of[out.indices], minlength=len(code.classes)).double() / samples
        sizes = torch.bincount(cls_of, minlength=len(code.classes)).double()
        h = -sum(float(m * math.log2(m / s)) for m, s in zip(mass, sizes) if m > 0)
        row["voronoi_entropy"], row["voronoi_entropy_exact"] = h, False  # cells within a class are congruent
    else:
        counts = torch.bincount(out.indices, minlength=n_codes).double()
        p = counts[counts > 0] / samples
        plug_in = float(-(p * p.log()).sum())
        mm = plug_in + (p.numel() - 1) / (2 * samples)  # Miller-Madow bias correction (nats)
        row["voronoi_entropy"], row["voronoi_entropy_exact"] = min(mm / math.log(2), math.log2(n_codes)), False
    return {k: row[k] for k in KEYS}


def compute_tableau(samples: int = 20000, seed: int = 0, rows: list[RowSpec] | None = None, progress: bool = True) -> list[dict]:
    """One dict per method with the keys in ``KEYS``; deterministic for a given seed."""
    if isinstance(samples, bool) or not isinstance(samples, int) or samples < 100:
        raise ValueError(f"samples must be an integer >= 100, got {samples!r}")
    specs = rows if rows is not None else default_rows()
    out = []
    bar = progress_bar(specs, "tableau", progress)
    for spec in bar:
        bar.set_postfix_str(spec.method)
        torch.manual_seed(seed)
        out.append(_row(spec, samples, seed))
    return out


def _fmt(v) -> str:
    if isinstance(v, bool):
        return "yes" if v else "no"
    if v is None:
        return "—"
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, int):
        return f"{v:,}"
    return str(v)


def format_tableau(rows: list[dict], fmt: str = "md") -> str:
    """Render as Markdown (``md``), ``json`` or ``csv``."""
    if fmt == "json":
        return json.dumps(rows, indent=2, ensure_ascii=False)
    if fmt == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=KEYS)
        w.writeheader()
        w.writerows(rows)
        return buf.getvalue()
    if fmt != "md":
        raise ValueError(f"format must be md, json or csv, got {fmt!r}")
    cols = [("method", "method"), ("construction", "construction / generator"), ("constraints", "constraints"),
            ("dim", "d"), ("codebook_size", "N"), ("bits", "log2 N"), ("dmin_chord", "δmin chord"), ("dmin_deg", "δmin (°)"),
            ("mse", "MSE"), ("mse_se", "± s.e. (MC)"), ("mse_over_bound", "MSE / cap bound"), ("max_ste_error", "max ‖ẑ−z‖"),
            ("voronoi_entropy", "H(Voronoi) bits"), ("needs_entropy_reg", "entropy reg.?")]
    lines = ["| " + " | ".join(h for _, h in cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        cells = []
        for k, _ in cols:
            v = _fmt(r[k])
            if k == "mse" and r["mse_closed_form"] is not None:
                v += " (closed form)"
            if k == "max_ste_error" and not r["max_ste_error_exact"]:
                v += " (MC)"
            if k == "voronoi_entropy" and not r["voronoi_entropy_exact"]:
                v += " (est.)"
            cells.append(v)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)
