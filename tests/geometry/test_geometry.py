"""Geometry toolkit: δ_min, closed forms vs Monte-Carlo, the tableau's keys and rows, figures."""

import json
import math

import pytest
import torch

from npq.geometry import KEYS, compute_tableau, default_rows, format_tableau

ROWS = default_rows()
from npq.geometry import plots
from npq.geometry.dmin import min_angle, min_angle_bruteforce
from npq.geometry.sphere import cap_mse_lower_bound, mean_abs_coordinate, uniform_sphere
from npq.lattices import A2Code, D4Code, E8Code, LeechCode
from npq.quantize import BSQ


@pytest.mark.parametrize("code", [A2Code(), D4Code(), E8Code(), LeechCode(), LeechCode("C"), LeechCode("A+B")], ids=str)
def test_lattice_shells_have_60_degrees(code):
    deg, exact = min_angle(code)
    assert exact and deg == pytest.approx(60.0)


def test_leech_min_angle_matches_bruteforce_on_a_class():
    code = LeechCode("A")  # small enough for the exhaustive check of the symmetry argument
    assert min_angle_bruteforce(code.codebook(torch.float64)) == pytest.approx(min_angle(code)[0])


@pytest.mark.parametrize("d", [2, 5, 9])
def test_bsq_chord_is_two_over_sqrt_d(d):
    deg = min_angle_bruteforce(BSQ(d).decode(torch.arange(2**d)))
    assert 2 * math.sin(math.radians(deg) / 2) == pytest.approx(2 / math.sqrt(d))


@pytest.mark.parametrize("d", [2, 3, 8, 24])
def test_mean_abs_coordinate_closed_form(d):
    u = uniform_sphere(200_000, d, seed=3)
    assert u.abs()[:, 0].mean().item() == pytest.approx(mean_abs_coordinate(d), abs=4 * u[:, 0].abs().std().item() / math.sqrt(2e5))


def test_cap_bound_is_below_every_code_and_tight_for_the_hexagon():
    # for N points on the circle (d = 2) the regular polygon attains the bound exactly
    n = 6
    exact = 2 - 2 * math.sin(math.pi / n) / (math.pi / n)  # E[2 - 2 cos t], t uniform in [-pi/n, pi/n]
    assert cap_mse_lower_bound(n, 2) == pytest.approx(exact, rel=1e-6)


@pytest.fixture(scope="module")
def small_tableau():
    keep = {"LFQ", "BSQ", "FSQ", "A2-SQ", "E8-SQ", "Λ24-SQ", "Λ24-SQ class A", "Fibonacci F_8(240)"}
    return compute_tableau(samples=4000, seed=0, rows=[r for r in ROWS if r.method in keep], progress=False)


def test_monte_carlo_agrees_with_closed_forms(small_tableau):
    rows = {r["method"]: r for r in small_tableau}
    for name in ("LFQ", "BSQ"):
        r = rows[name]
        assert r["mse_closed_form"] is not None
        assert abs(r["mse_mc"] - r["mse_closed_form"]) < 4 * r["mse_se"]
    # the hexagon's error has a closed form too (d = 2): check the Monte-Carlo estimate against it
    r = rows["A2-SQ"]
    exact = 2 - 2 * math.sin(math.pi / 6) / (math.pi / 6)
    assert abs(r["mse_mc"] - exact) < 4 * r["mse_se"]
    # no code beats the cap bound; Λ24 is within a few percent of it
    for r in small_tableau:
        assert r["mse_mc"] >= r["mse_bound"] - 4 * r["mse_se"]
    assert rows["Λ24-SQ"]["mse_over_bound"] < 1.05


def test_tableau_rows_agree_with_quantizers(small_tableau):
    for spec, row in zip([r for r in ROWS if r.method in {x["method"] for x in small_tableau}], small_tableau):
        q = spec.build()
        assert row["codebook_size"] == q.codebook_size
        assert row["bits"] == pytest.approx(q.bits_per_token)
        assert row["dim"] == q.dim
    rows = {r["method"]: r for r in small_tableau}
    assert rows["Λ24-SQ"]["dmin_chord"] == pytest.approx(1.0) and rows["Λ24-SQ"]["voronoi_entropy"] == pytest.approx(math.log2(196560))
    assert rows["BSQ"]["needs_entropy_reg"] and not rows["Λ24-SQ"]["needs_entropy_reg"]
    assert rows["FSQ"]["dmin_deg"] == 0.0  # collinear codes after normalization


def test_full_tableau_json_has_every_row_and_key():
    rows = compute_tableau(samples=400, seed=1, progress=False)
    data = json.loads(format_tableau(rows, "json"))
    assert [r["method"] for r in data] == [s.method for s in ROWS]
    for r in data:
        assert list(r) == KEYS
    assert "Λ24-SQ" in format_tableau(rows, "md") and format_tableau(rows, "csv").startswith("method,")
    subset = [s for s in ROWS if s.method in ("BSQ", "Random-projection VQ", "Λ24-SQ class B")]
    again = compute_tableau(samples=400, seed=1, rows=subset, progress=False)
    assert again == [r for r in rows if r["method"] in {s.method for s in subset}]  # deterministic for a seed


def test_plots_write_non_empty_files(tmp_path):
    for fn, name in ((plots.plot_voronoi, "v"), (plots.plot_entropy, "e")):
        for p in fn(tmp_path / name):
            assert p.stat().st_size > 1000
    for p in plots.plot_delta_min(tmp_path / "d", dims=[3, 8], ns=[16, 64]):
        assert p.stat().st_size > 1000


def test_entropy_relocation_peaks_at_the_regular_code():
    r = plots.entropy_relocation(n=6, configs=50)
    assert r["path_voronoi"][-1] == pytest.approx(r["log2N"], abs=1e-9)
    assert max(r["path_diversity"]) == pytest.approx(r["path_diversity"][-1], abs=1e-6)
    assert all(v <= r["log2N"] + 1e-9 for v in r["voronoi"])


def test_cli_tableau_and_plot(tmp_path, capsys):
    from npq.cli.main import main

    assert main(["tableau", "--samples", "100", "--format", "json", "--quiet", "--methods", "BSQ,E8-SQ", "--out", str(tmp_path / "t.json")]) == 0
    assert [r["method"] for r in json.loads((tmp_path / "t.json").read_text())] == ["BSQ", "E8-SQ"]
    assert main(["tableau", "--methods", "XYZ", "--quiet"]) == 2
    assert main(["plot", "voronoi", "--out", str(tmp_path / "vor")]) == 0
    assert (tmp_path / "vor.png").stat().st_size > 1000
    assert main(["tableau", "--samples", "5", "--quiet"]) == 2
    assert "samples must be" in capsys.readouterr().err


@pytest.mark.parametrize("levels", [[3, 3, 3], [5, 3], [4, 4], [3, 5, 7], [8, 6, 5]])
def test_collinear_fsq_codes_agree_with_brute_force(levels):
    from npq.geometry.dmin import has_collinear_codes
    from npq.geometry.tableau import fsq_integer_codes
    from npq.quantize import FSQ

    q = FSQ(levels)
    ints = fsq_integer_codes(q)
    assert torch.allclose(ints.double() / ints.abs().max(0).values.clamp_min(1), q.codebook().double(), atol=1e-6)
    assert has_collinear_codes(ints) == (min_angle_bruteforce(q.codebook()) < 1e-3)


def test_min_angle_large_equals_the_exhaustive_search():
    from npq.geometry.dmin import min_angle_bruteforce, min_angle_large
    from npq.geometry.sphere import uniform_sphere

    for n, d in ((3000, 24), (2000, 8)):
        x = uniform_sphere(n, d, seed=n)
        assert min_angle_large(x, chunk=700) == pytest.approx(min_angle_bruteforce(x), abs=1e-9)


def test_plot_writes_to_a_named_folder_by_default(tmp_path, monkeypatch, capsys):
    """`npq plot voronoi` wrote docs/figures/ under the working directory (from the repo root it
    replaced a tracked figure): the default is npq_figures/, named in the message."""
    from npq.cli.main import main

    monkeypatch.chdir(tmp_path)
    assert main(["plot", "voronoi"]) == 0
    assert "npq_figures/voronoi.png" in capsys.readouterr().out
    assert (tmp_path / "npq_figures" / "voronoi.png").is_file() and not (tmp_path / "docs").exists()
