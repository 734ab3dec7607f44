"""Portable priors decode bit for bit in other processes with other arithmetic: token grids coded
here (the context prior, and the shipped neural prior on a real photo's 4-stage tokens) and the
committed golden files, decoded in fresh processes that use other kernels everywhere a number
is computed: torch's (``ATEN_CPU_CAPABILITY``), numpy's SIMD (``NPY_DISABLE_CPU_FEATURES``) and
OpenBLAS's (``OPENBLAS_CORETYPE``, SSE-era kernels), with one and two threads."""

import os
import subprocess
import sys

import numpy as np
from repo_paths import REPO
from test_golden import NEURAL_V2_TOKENS_SHA256, V2_TOKENS_SHA256

from npq.codec import load_prior
from npq.codec.priors.context import ContextPrior

GOLDEN = REPO / "tests" / "data" / "golden"

_CHILD = """
import hashlib, sys, numpy as np
from npq.codec import load_prior
from npq.codec.bitstream import unpack
from npq.zoo import shipped_prior
d = sys.argv[1]
out = []
for name, prior in (("ctx", load_prior(d + "/ctx.safetensors")), ("neural", shipped_prior("default_leech_v2", kind="neural"))):
    g = np.load(d + f"/{name}.npy")
    data = open(d + f"/{name}.bin", "rb").read()
    t = prior.decode_stages(data, g.shape[:2], g.shape[2]) if g.ndim == 3 else prior.decode(data, g.shape)
    out.append(str(np.array_equal(t, g)))
for path, kind in ((sys.argv[2], "context"), (sys.argv[3], "neural")):
    h, pl, _ = unpack(open(path, "rb").read())
    t = shipped_prior("default_leech_v2", kind=kind).decode_stages(pl, (h.grid_h, h.grid_w), h.stages)
    out.append(hashlib.sha256(t.astype("<i4").tobytes()).hexdigest())
print(" ".join(out))
"""

ENVIRONMENTS = [
    {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "ATEN_CPU_CAPABILITY": "avx2"},
    {"OMP_NUM_THREADS": "2", "OPENBLAS_NUM_THREADS": "2", "ATEN_CPU_CAPABILITY": "default",
     "NPY_DISABLE_CPU_FEATURES": "X86_V3 X86_V4", "OPENBLAS_CORETYPE": "Prescott"},
]


def test_files_decode_bit_for_bit_under_other_kernels_and_thread_counts(tmp_path):
    from npq.apps.images import tokenize_array
    from npq.data.photos import load_rgb, public_eval_photos
    from npq.zoo import load_tokenizer, shipped_prior

    rng = np.random.default_rng(4)
    g = rng.integers(0, 196560, (20, 30))
    g[:, 1::2] = g[:, ::2]
    ctx = ContextPrior.fit(np.stack([g, g[::-1]]), 196560)
    ctx.save(tmp_path / "ctx.safetensors")
    assert load_prior(tmp_path / "ctx.safetensors").fingerprint() == ctx.fingerprint()
    np.save(tmp_path / "ctx.npy", g)
    (tmp_path / "ctx.bin").write_bytes(ctx.encode(g))
    model, _ = load_tokenizer("default_leech_v2")
    photo = load_rgb(public_eval_photos()[0])[:128, :192]
    tokens = tokenize_array(model, photo)  # (16, 24, 4)
    np.save(tmp_path / "neural.npy", tokens)
    (tmp_path / "neural.bin").write_bytes(shipped_prior("default_leech_v2", kind="neural").encode_stages(tokens))
    want = f"True True {V2_TOKENS_SHA256} {NEURAL_V2_TOKENS_SHA256}"
    for env in ENVIRONMENTS:
        r = subprocess.run([sys.executable, "-c", _CHILD, str(tmp_path), str(GOLDEN / "astronaut_crop_v2_q4.npq"),
                            str(GOLDEN / "astronaut_crop_v2_q4_neural.npq")], capture_output=True, text=True,
                           env={**os.environ, **env}, timeout=300)
        assert r.stdout.strip() == want, (env, r.stdout, r.stderr[-2000:])
