"""``npq explore``: the seed's interactive explorer as one self-contained HTML page.

Three parts, every number computed by npq when the page is built (nothing typed in):

* a Venn diagram of the families (learnable VQ, non-parametric quantization, lattice codes,
  spherical codes, densest packings) with a dot per method; clicking a dot shows the method's
  row of the grand tableau (:func:`npq.geometry.compute_tableau`), its formula, the
  ``npq.quantize.make(...)`` call that builds it and, for the 2-D methods, its Voronoi picture;
* a 2-D playground: drag a point and see, for LFQ, BSQ, FSQ and the hexagonal spherical code
  (A2-SQ) side by side, the codeword it maps to, its Voronoi cell and the STE error arrow ẑ − z
  (the page's quantizers use the constants and codebooks of npq's 2-D modules, embedded here);
* the δ_min(N) curves (:func:`npq.geometry.plots.delta_min_curves`) and the tableau as sortable
  tables.

The page has its JavaScript, styles and data inlined: no network, it works from ``file://``.
"""

from __future__ import annotations

import html
import json
from importlib import resources
from pathlib import Path

__all__ = ["METHODS", "FAMILIES", "CIRCLES", "explorer_data", "render_explorer", "write_explorer"]

# (key, label, families, tableau row or None, formula, call, Venn position (x, y) in the 720x480 SVG, 2-D picture, short label)
# families: vq = learnable VQ, npq = non-parametric, lattice = lattice codes, spherical = spherical codes, densest = densest packings
METHODS = [
    ("vq", "Learnable VQ", ["vq"], "Learnable VQ (k-means)", "q(z) = argmin_k ‖z − c_k‖, codebook c learned (codebook + commitment losses)",
     'make("vq", dim=8, codebook_size=1024)', (90, 210), None, "VQ"),
    ("vq-remedies", "VQ + remedies", ["vq"], None,
     "EMA updates, k-means init, dead-code revival, CVQ anchors, affine reparametrization; STE, rotation trick, index backprop or Gumbel",
     'make("vq", dim=8, codebook_size=1024, init="kmeans", cvq=True, estimator="rotation")', (110, 290), None, "VQ + remedies"),
    ("vq-leech", "VQ from the Λ24 shell", ["vq", "npq"], None, "learnable VQ whose 196,560 codes start at the Λ24 shell",
     'make("vq", dim=24, codebook_size=196560, init="leech")', (250, 200), None, "VQ from Λ24"),
    ("rpvq", "Random-projection VQ", ["npq"], "Random-projection VQ", "q(z) = argmax_k ⟨z/‖z‖, c_k⟩, c_k frozen random unit vectors",
     'make("random-projection-vq", dim=24, codebook_size=16384)', (330, 90), None, "random-projection VQ"),
    ("residual", "Residual (multi-rate)", ["npq"], None, "ẑ = Σ_s g_s q_s(r_s), r_{s+1} = r_s − g_s q_s(r_s): one stage per rate",
     'make("residual", quantizer="leech", stages=2)', (290, 400), None, "residual"),
    ("lfq", "LFQ", ["npq", "lattice"], "LFQ", "q(z) = sign(z) ∈ {±1}^d", 'make("lfq", dim=16)', (345, 240), "lfq", "LFQ"),
    ("fsq", "FSQ", ["npq", "lattice"], "FSQ", "q(z) = round(h · bound(z)) / h, bound = tanh (shifted for even L), h = ⌊L/2⌋",
     'make("fsq", bits=16)', (360, 300), "fsq", "FSQ"),
    ("zn", "Full lattices Zⁿ, Aₙ, Dₙ, Dₙ*", ["npq", "lattice"], None, "exact nearest lattice point (Conway & Sloane): round, then fix parity / coset",
     "from npq.lattices.root import nearest_dn; nearest_dn(x)", (390, 370), None, "Zⁿ Aₙ Dₙ Dₙ*"),
    ("bsq", "BSQ", ["npq", "lattice", "spherical"], "BSQ", "q(z) = sign(u)/√d, u = z/‖z‖", 'make("bsq", dim=16)', (470, 200), "bsq", "BSQ"),
    ("e8-lattice", "E8 lattice (full)", ["npq", "lattice", "densest"], None, "E8 = D8 ∪ (D8 + ½): the nearer of the two cosets' nearest points",
     "from npq.lattices.root import nearest_e8; nearest_e8(x)", (525, 335), None, "E8 lattice"),
    ("a2-sq", "A2-SQ (hexagonal)", ["npq", "lattice", "spherical", "densest"], "A2-SQ", "the 6 minimal vectors of A2, unit norm: nearest by angle",
     'make("a2-sq")', (505, 232), "hex", "A2"),
    ("a3-sq", "A3-SQ", ["npq", "lattice", "spherical", "densest"], "A3-SQ", "the 12 minimal vectors of A3 (cuboctahedron)", 'make("a3-sq")', (533, 232), None, "A3"),
    ("d4-sq", "D4-SQ", ["npq", "lattice", "spherical", "densest"], "D4-SQ", "the 24 minimal vectors (±1, ±1, 0, 0)/√2", 'make("d4-sq")', (561, 232), None, "D4"),
    ("d5-sq", "D5-SQ", ["npq", "lattice", "spherical", "densest"], "D5-SQ", "the 40 minimal vectors of D5", 'make("d5-sq")', (589, 232), None, "D5"),
    ("e6-sq", "E6-SQ", ["npq", "lattice", "spherical", "densest"], "E6-SQ", "the 72 minimal vectors of E6", 'make("e6-sq")', (510, 256), None, "E6"),
    ("e7-sq", "E7-SQ", ["npq", "lattice", "spherical", "densest"], "E7-SQ", "the 126 minimal vectors of E7", 'make("e7-sq")', (538, 256), None, "E7"),
    ("e8-sq", "E8-SQ", ["npq", "lattice", "spherical", "densest"], "E8-SQ", "the 240 minimal vectors of E8, unit norm", 'make("e8-sq")', (566, 256), None, "E8"),
    ("k12-sq", "K12-SQ", ["npq", "lattice", "spherical", "densest"], "K12-SQ", "the 756 minimal vectors of the Coxeter–Todd lattice",
     'make("k12-sq")', (594, 256), None, "K12"),
    ("lambda16-sq", "Λ16-SQ", ["npq", "lattice", "spherical", "densest"], "Λ16-SQ", "the 4,320 minimal vectors of the Barnes–Wall lattice",
     'make("lambda16-sq")', (530, 280), None, "Λ16"),
    ("leech", "Λ24-SQ", ["npq", "lattice", "spherical", "densest"], "Λ24-SQ",
     "the 196,560 minimal vectors of the Leech lattice, unit norm: exact nearest codeword", 'make("leech")', (560, 280), None, "Λ24"),
    ("leech-a", "Λ24 class A", ["npq", "lattice", "spherical"], "Λ24-SQ class A", "shape (±4, ±4, 0²²)/√32", 'make("leech-subset", classes="A")',
     (480, 145), None, "Λ24 A"),
    ("leech-b", "Λ24 class B", ["npq", "lattice", "spherical"], "Λ24-SQ class B", "shape (±2⁸, 0¹⁶)/√32 on the octads", 'make("leech-subset", classes="B")',
     (510, 165), None, "Λ24 B"),
    ("leech-c", "Λ24 class C", ["npq", "lattice", "spherical"], "Λ24-SQ class C", "shape (∓3, ±1²³)/√32", 'make("leech-subset", classes="C")',
     (480, 175), None, "Λ24 C"),
    ("leech-ab", "Λ24 classes A+B", ["npq", "lattice", "spherical"], "Λ24-SQ classes A+B", "the even vectors of the shell",
     'make("leech-subset", classes="A+B")', (505, 195), None, "Λ24 A+B"),
    ("fib8", "Fibonacci F_8(240)", ["npq", "spherical"], "Fibonacci F_8(240)", "generalized Fibonacci spiral on S⁷",
     'make("fibonacci", codebook_size=240, dim=8)', (580, 110), None, "F₈(240)"),
    ("fib24", "Fibonacci F_24(2^14)", ["npq", "spherical"], "Fibonacci F_24(2^14)", "generalized Fibonacci spiral on S²³",
     'make("fibonacci", codebook_size=16384, dim=24)', (620, 140), None, "F₂₄(2¹⁴)"),
    ("product", "Product code Λ16 × E8", ["npq", "spherical"], None, "(q_Λ16(z₁..₁₆), q_E8(z₁₇..₂₄)) / √2: 19.98 bits in 24-d",
     'make("product-sq", codes=["lambda16", "e8"])', (630, 185), None, "Λ16×E8"),
]

FAMILIES = {"vq": "learnable VQ", "npq": "non-parametric quantization", "lattice": "lattice codes", "spherical": "spherical codes",
            "densest": "densest packings"}
# the Venn diagram's circles (cx, cy, r) and label positions (x, y): a dot lies inside exactly its families' circles (tested)
CIRCLES = {"vq": (150, 240, 130, 150, 100), "npq": (455, 240, 238, 330, 30), "lattice": (450, 300, 175, 400, 462),
           "spherical": (560, 190, 110, 640, 72), "densest": (545, 282, 75, 610, 352)}


def _playground() -> dict:
    """The 2-D quantizers' constants and codebooks (index order) from npq's modules."""
    from ..quantize import BSQ, FSQ, LFQ
    from ..quantize.spherical import SphericalLatticeQuantizer

    lfq, bsq, fsq, hexq = LFQ(2), BSQ(2), FSQ([5, 5]), SphericalLatticeQuantizer("a2")
    return {
        "lfq": {"scale": lfq.scale, "codebook": lfq.codebook().double().tolist()},
        "bsq": {"scale": float(bsq._scale()), "codebook": bsq.codebook().double().tolist()},
        "fsq": {"levels": list(fsq.levels), "eps": fsq.eps, "codebook": fsq.codebook().double().tolist()},
        "hex": {"codebook": hexq.codebook().double().tolist()},
    }


def explorer_data(samples: int = 20000, seed: int = 0, dmin_dims=(2, 3, 8, 24), methods: list[str] | None = None,
                  progress: bool = False) -> dict:
    """Everything the page shows: the tableau rows of the methods (``npq tableau --samples S
    --seed K``; ``methods``: only these rows, by tableau name), the methods with their families
    and calls, the playground's quantizers, the δ_min(N) curves."""
    from .. import __version__
    from ..geometry import compute_tableau, default_rows
    from ..geometry.plots import delta_min_curves

    wanted = {m[3] for m in METHODS if m[3]} if methods is None else set(methods)
    unknown = wanted - {r.method for r in default_rows()}
    if unknown:
        raise ValueError(f"unknown tableau method(s) {sorted(unknown)}")
    tableau = compute_tableau(samples=samples, seed=seed, rows=[r for r in default_rows() if r.method in wanted], progress=progress)
    rows = {r["method"]: r for r in tableau}
    methods = [{"key": k, "label": label, "short": short, "families": fam, "row": row if row in rows else None, "formula": formula,
                "call": call, "x": xy[0], "y": xy[1], "picture": pic} for k, label, fam, row, formula, call, xy, pic, short in METHODS]
    curves = delta_min_curves(list(dmin_dims), extra={})
    return {"version": __version__, "samples": samples, "seed": seed, "tableau": tableau, "methods": methods, "families": FAMILIES, "circles": CIRCLES,
            "playground": _playground(), "dmin": {str(d): c for d, c in curves.items()}}


def render_explorer(data: dict) -> str:
    """The page: the template with ``data`` inlined as JSON."""
    template = resources.files("npq.apps").joinpath("explore.html").read_text(encoding="utf-8")
    blob = json.dumps(data, allow_nan=False).replace("</", "<\\/")  # never closes the script element
    return template.replace("/*__DATA__*/null", blob).replace("__VERSION__", html.escape(str(data["version"])))


def write_explorer(out: str | Path, data: dict) -> Path:
    """Write the page atomically."""
    from ..utils.fileio import atomic_write_text

    atomic_write_text(out, render_explorer(data))
    return Path(out)
