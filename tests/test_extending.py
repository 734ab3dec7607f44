"""docs/extending.md: a quantizer, a metric and a prior, each added in one file, work everywhere.

Runs in a fresh process so the examples' registrations do not leak into other tests."""

import subprocess
import sys

from repo_paths import DOCS, REPO

SCRIPT = r"""
import sys, io, contextlib
sys.path.insert(0, sys.argv[1])
import numpy as np, torch
import cross_polytope, mean_abs_error, unigram_prior
from npq.quantize import make
from npq.cli.main import main
from npq.apps.tour import default_lineup
from npq.geometry import compute_tableau, default_rows
from npq.metrics import ReconstructionMetrics, format_results
from npq.codec import decompress, compress, load_prior

# the quantizer: exact against brute force over its explicit codebook, in every listing
q = make("cross-polytope", dim=24)
z = torch.randn(2000, 24)
cb = q.codebook()
assert cb.shape == (48, 24)
assert torch.equal(q.encode(z), (torch.nn.functional.normalize(z, dim=-1) @ cb.T).argmax(-1))
assert torch.equal(q.decode(q.encode(z)), q(z).z_q)
out = io.StringIO()
with contextlib.redirect_stdout(out):
    assert main(["list"]) == 0
assert "cross-polytope(dim=24)" in out.getvalue()
assert ("Zⁿ shell d=24", "cross-polytope", {"dim": 24}) in default_lineup()
row = [r for r in default_rows() if r.method == "Zⁿ shell d=24"]
t = compute_tableau(samples=500, rows=row, progress=False)[0]
assert t["codebook_size"] == 48 and abs(t["dmin_deg"] - 90.0) < 1e-6

# the metric: registered, computed, formatted
m = ReconstructionMetrics(["psnr", "mae"])
x = torch.rand(2, 3, 16, 16)
m.update(x, (x + 0.1).clamp(0, 1))
res = m.compute()
ref = (torch.round(x.double() * 255) - torch.round((x + 0.1).clamp(0, 1).double() * 255)).abs().mean().item()
assert abs(res["mae"] - ref) < 1e-9, (res, ref)
assert "| mae |" in format_results(res)

# the prior: fitted, saved, loaded, and used by the codec through the header's kind byte
from npq.zoo import load_tokenizer
from PIL import Image
model, _ = load_tokenizer("default_leech_f8")  # a single-stage model (a unigram over one codebook)
img = Image.fromarray((np.random.default_rng(0).random((48, 64, 3)) * 255).astype(np.uint8))
tokens = compress(img, model).tokens
prior = unigram_prior.UnigramPrior.fit(tokens, model.quantizer.codebook_size)
prior.save(sys.argv[2])
again = load_prior(sys.argv[2])
assert type(again).__name__ == "UnigramPrior" and again.fingerprint() == prior.fingerprint()
data = compress(img, model, again).data
assert data[21] == 7  # header byte: prior kind
assert np.array_equal(np.asarray(decompress(data, model, prior)), np.asarray(decompress(compress(img, model).data, model)))
print("ok")
"""


def test_docs_examples_extend_npq_in_one_file_each(tmp_path):
    r = subprocess.run([sys.executable, "-c", SCRIPT, str(DOCS / "examples"), str(tmp_path / "unigram.pt")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stdout + r.stderr


def test_an_installed_plugin_is_listed_by_the_npq_command(tmp_path):
    """A tiny package with an `npq.quantizers` entry point (a dist-info on the path, as pip
    installs it) and a module named in $NPQ_PLUGINS: `npq list` in a fresh process shows both
    quantizers; a broken plugin is one warning and npq goes on."""
    import os
    import subprocess
    import sys

    src = (REPO / "docs" / "examples" / "cross_polytope.py").read_text()
    (tmp_path / "npq_demo_plugin").mkdir()
    (tmp_path / "npq_demo_plugin" / "__init__.py").write_text("")
    (tmp_path / "npq_demo_plugin" / "shell.py").write_text(src)
    dist = tmp_path / "npq_demo_plugin-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: npq-demo-plugin\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[npq.quantizers]\ncross-polytope = npq_demo_plugin.shell\n")
    (tmp_path / "env_plugin.py").write_text(src.replace('"cross-polytope"', '"cross-polytope-env"'))
    (tmp_path / "broken_plugin.py").write_text("raise RuntimeError('broken on purpose')\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
           "NPQ_PLUGINS": "env_plugin,broken_plugin"}
    out = subprocess.run([sys.executable, "-m", "npq.cli.main", "list"], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr[-800:]
    assert "cross-polytope(dim=24)" in out.stdout and "cross-polytope-env(dim=24)" in out.stdout
    assert "broken_plugin" in out.stderr and "broken on purpose" in out.stderr
