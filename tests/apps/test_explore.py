"""`npq explore` in a real browser (headless Chromium through selenium): clicking a Venn dot shows
that method's tableau row with the numbers `npq tableau --format json` prints; dragging the point
in the 2-D playground gives, in every panel, the codeword and index npq's own 2-D quantizer
gives for the same input; the page loads from file:// with no console error; every dot lies
inside exactly its families' circles."""

import json
import math

import pytest
import torch

from npq.apps.explore import CIRCLES, METHODS
from npq.cli.main import main

ROWS = "BSQ,A2-SQ,Λ24-SQ"


def test_every_dot_lies_inside_exactly_its_families_circles():
    for key, _, fams, *_rest in METHODS:
        x, y = _rest[3]
        inside = {f for f, (cx, cy, r, *_l) in CIRCLES.items() if math.hypot(x - cx, y - cy) < r}
        assert inside == set(fams), key


@pytest.fixture(scope="module")
def page(tmp_path_factory, browser):
    out = tmp_path_factory.mktemp("explore") / "explore.html"
    assert main(["explore", "--out", str(out), "--samples", "400", "--dims", "2", "3", "--methods", ROWS, "--quiet"]) == 0
    return browser(out)


def test_clicking_a_dot_shows_the_tableau_row_of_npq_tableau(page, capsys):
    capsys.readouterr()
    assert main(["tableau", "--format", "json", "--samples", "400", "--methods", ROWS, "--quiet"]) == 0
    truth = {r["method"]: r for r in json.loads(capsys.readouterr().out)}
    assert [x for x in page.get_log("browser") if x["level"] == "SEVERE"] == []
    for key, row in (("leech", "Λ24-SQ"), ("bsq", "BSQ"), ("a2-sq", "A2-SQ")):
        page.find_element("id", f"dot-{key}").click()
        cells = page.find_elements("css selector", "#panel-table td[data-key]")
        shown = {c.get_attribute("data-key"): (json.loads(c.get_attribute("data-value")), c.text) for c in cells}
        assert shown["method"][0] == row
        for k in ("dim", "codebook_size", "bits", "dmin_deg", "mse", "max_ste_error", "voronoi_entropy"):
            value, text = shown[k]
            assert value == truth[row][k], (row, k)
            assert math.isclose(float(text.replace(",", "")), truth[row][k], rel_tol=1e-4), (row, k, text)
        assert page.find_element("id", "panel-call").text.endswith(dict((m[0], m[5]) for m in METHODS)[key])
    assert page.find_element("id", "panel-picture")  # A2-SQ has a 2-D picture
    page.find_element("id", "dot-vq-remedies").click()
    assert "Not a row" in page.find_element("id", "panel").text


def test_dragging_the_point_gives_npq_quantizers_codewords(page):
    from selenium.webdriver.common.action_chains import ActionChains

    from npq.quantize import BSQ, FSQ, LFQ
    from npq.quantize.spherical import SphericalLatticeQuantizer

    npq = {"lfq": LFQ(2), "bsq": BSQ(2), "fsq": FSQ([5, 5]), "hex": SphericalLatticeQuantizer("a2")}
    canvas = page.find_element("id", "pg-bsq")
    seen = set()
    for dx, dy in ((-100, 30), (60, -80), (-35, -110), (90, 95), (20, 15), (100, -10), (-8, 70), (5, -5)):
        ActionChains(page).move_to_element(canvas).click_and_hold().move_by_offset(dx // 2, dy // 2).move_by_offset(dx - dx // 2, dy - dy // 2).release().perform()
        for key, q in npq.items():
            r = page.find_element("id", f"out-{key}")
            z = json.loads(r.get_attribute("data-z"))
            got = json.loads(r.get_attribute("data-codeword"))
            out = q(torch.tensor([z], dtype=torch.float64))
            assert torch.allclose(torch.tensor(got, dtype=torch.float64), out.z_q[0].double(), atol=1e-6), (key, z, got, out.z_q)
            assert int(r.get_attribute("data-index")) == int(out.indices[0]), (key, z)
            seen.add((key, int(out.indices[0])))
        assert json.loads(page.find_element("id", "out-lfq").get_attribute("data-z")) == z  # one point for every panel
    assert len({i for k, i in seen if k == "hex"}) >= 3  # the drags visited several cells


def test_the_tableau_sorts_by_a_clicked_column(page):
    headers = page.find_elements("css selector", "#tableau th")
    col = [h.text.rstrip(" ⇅") for h in headers].index("bits per token")
    values = lambda: [json.loads(r.find_elements("css selector", "td")[col].get_attribute("data-value"))  # noqa: E731
                      for r in page.find_elements("css selector", "#tableau tbody tr")]
    headers[col].click()
    assert values() == sorted(values()) and len(values()) == 3
    headers[col].click()
    assert values() == sorted(values(), reverse=True)
