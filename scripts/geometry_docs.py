"""Regenerate docs/geometry.md: the grand tableau and the figures, computed live by npq."""

from __future__ import annotations

import sys
from pathlib import Path

from npq.geometry import compute_tableau, format_tableau, plots

DOCS = Path(__file__).resolve().parents[1] / "docs"

TEMPLATE = """# Geometry of the quantizers

Everything on this page is computed by npq (`make geometry` regenerates it; `npq tableau` and
`npq plot ...` print or draw the parts).

## The grand tableau

Inputs for the error columns are uniform on the unit sphere S^(d-1), {samples:,} per method (seed 0),
fed to each quantizer's own `forward` (LFQ and FSQ are therefore measured on their raw, off-sphere
codes). "MSE / cap bound" divides by the lower bound that *any* N-point code on the sphere must
obey (each Voronoi cell replaced by a cap of area 1/N). "(closed form)" marks exact values,
"(MC)" Monte-Carlo maxima (lower estimates of the covering radius), "(est.)" estimated entropies.
Voronoi entropies of symmetric codes (all cells congruent) are exactly log2 N.

{table}

How to read it:
* **δmin**: lattice shells (A2, A3, D4, D5, E6, E7, E8, K12, Λ16, Λ24 and every Λ24 shape class)
  keep 60° (chord 1) however large N grows; BSQ's neighbours are only 2 arcsin(1/√d) apart (chord 2/√d); FSQ's codes are
  collinear after normalization (δmin = 0); random and Fibonacci codes in 24-d sit near 23-25° at
  N = 16,384 and fall further at Λ24's own size N = 196,560 (random 23.8°, Fibonacci 16.8°, from
  `docs/figures/delta_min.json`), against Λ24-SQ's 60°.
* **MSE / cap bound**: Λ24-SQ is within about 2% of the best any 196,560-point spherical code could
  do; BSQ is ~30% above the bound for its size; the learnable VQ (spherical k-means, 1,024 codes)
  is a few percent above. The shells of the densest-packing table all sit 0.2-6% above the bound
  at their own N (A2 0.2%, E8 1.9%, Λ24 2.0%, D4 3.9%, Λ16 3.6%, E7 3.7%, E6 4.0%, K12 4.4%, D5
  5.5%, A3 5.6%): not monotone in packing density as shells — E8 and Λ24 come closest; the
  monotone "denser packing, smaller error" holds for the full lattices' G (docs/lattices.md).
* **H(Voronoi)**: equal to log2 N when all cells have the same mass. BSQ and LFQ get there only by
  symmetry of *uniform* inputs — which training does not provide, hence their entropy
  regularizers; lattice shells are symmetric by construction.

## Voronoi partitions and STE errors

![voronoi](figures/voronoi.png)

The four 2-D partitions of the seed: LFQ, BSQ, FSQ and the hexagonal spherical code, with arrows
ẑ − z (the error the straight-through estimator ignores) on a grid of inputs. On the sphere the
error is bounded by the code's covering radius; LFQ's and FSQ's grow with the input.

## Minimum distance δ_min(N)

![delta-min](figures/delta_min.png)

Fibonacci codes are near the cap-area bound in d = 3 but fall to the level of random codes by
d = 24, while the lattice shells (stars) keep 60° at much larger N. The d = 24 panel reaches
N = 196,560, Λ24's own size: random and Fibonacci codes of that size are compared with Λ24-SQ at
equal rate (values in `docs/figures/delta_min.json`).

## Entropy regularization as lattice relocation

![entropy](figures/entropy.png)

Left: for random 6-point codes on the circle, the diversity term H(E[q(z)]) of the entropy
regularizer (soft assignment, τ = 8, inputs uniform on the circle) against the entropy of the
Voronoi-cell volumes: maximizing one maximizes the other, both peak at equal cells (log2 6).
Right: relocating a random code to the regular hexagon raises both to the maximum — a dense,
symmetric code starts where entropy regularization tries to push a learned one.
"""


def main(samples: int = 20000) -> None:
    rows = compute_tableau(samples=samples, seed=0)
    table = format_tableau(rows, "md")
    (DOCS / "figures").mkdir(parents=True, exist_ok=True)
    (DOCS / "figures" / "tableau.json").write_text(format_tableau(rows, "json") + "\n", encoding="utf-8")
    plots.plot_voronoi(DOCS / "figures" / "voronoi")
    plots.plot_delta_min(DOCS / "figures" / "delta_min", dims=[3, 8, 24])
    plots.plot_entropy(DOCS / "figures" / "entropy")
    (DOCS / "geometry.md").write_text(TEMPLATE.format(samples=samples, table=table), encoding="utf-8")
    print(f"wrote {DOCS / 'geometry.md'}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20000)
