"""Golden vectors: committed bitstreams made by the shipped models with their portable priors
(context counts, integer neural network) must decode to the committed token hashes on every
machine, forever (a format change needs a version bump and a new golden file)."""

import hashlib

from repo_paths import REPO

from npq.codec import decompress
from npq.codec.bitstream import unpack
from npq.cli.main import main
from npq.zoo import load_tokenizer, shipped_model_for, shipped_prior

GOLDEN = REPO / "tests" / "data" / "golden"
# tokens of astronaut_crop_context.npq (int32 little-endian, row-major), written 2026-11-29
TOKENS_SHA256 = "8f7cf156f2d7c1dfe996750cae51295cfd70cea411d36bd26bb02a893984f7d6"
# astronaut_crop_v2_q4.npq: `npq compress tests/data/npq-0.1/astronaut_crop.png OUT` with the default
# model v2 (4 residual stages, per-stage context prior), written 2026-11-29 (session 6); tokens
# (9, 12, 4) as above
V2_TOKENS_SHA256 = "67a27e51dcbe9a5bae5bff3a8b0d8fcd103d5b12b3bf58156a37a2f5cc5bf78a"
# astronaut_crop_neural.npq: `npq compress tests/data/npq-0.1/astronaut_crop.png OUT --checkpoint
# default_leech_f8 --prior neural` (written 2026-11-29, session 7): the same tokens as the context file
NEURAL_V1_TOKENS_SHA256 = TOKENS_SHA256
# astronaut_crop_v2_q4_neural.npq: `npq compress tests/data/npq-0.1/astronaut_crop.png OUT` (the default
# model v2 and its default prior, the integer neural one; session 7): the same tokens as the v2 context file
NEURAL_V2_TOKENS_SHA256 = V2_TOKENS_SHA256


def test_context_prior_golden_file_decodes_to_its_tokens():
    data = (GOLDEN / "astronaut_crop_context.npq").read_bytes()
    h, payload, _ = unpack(data)
    prior = shipped_prior("default_leech_f8", kind="context")
    assert h.prior == prior.kind and h.prior_id == prior.fingerprint() and (h.grid_h, h.grid_w) == (9, 12)
    tokens = prior.decode(payload, (h.grid_h, h.grid_w))
    assert hashlib.sha256(tokens.astype("<i4").tobytes()).hexdigest() == TOKENS_SHA256
    model, _ = load_tokenizer("default_leech_f8")
    img = decompress(data, model, prior)  # the token CRC in the header agrees too
    assert img.size == (h.width, h.height)


def test_files_of_an_earlier_default_model_still_decompress_without_flags(tmp_path):
    """`npq decompress` with no --checkpoint finds the shipped model whose id the header names
    (v1's files keep opening after the default became v2)."""
    src = GOLDEN / "astronaut_crop_context.npq"
    assert shipped_model_for(unpack(src.read_bytes())[0].model_id) == "default_leech_f8"
    assert shipped_model_for(b"\0" * 16) is None
    assert main(["decompress", str(src), str(tmp_path / "out.png")]) == 0 and (tmp_path / "out.png").stat().st_size > 1000


def test_multi_stage_golden_file_decodes_to_its_tokens(tmp_path):
    """A version-2 file with 4 residual stages: each stage's tokens from its own context counts."""
    data = (GOLDEN / "astronaut_crop_v2_q4.npq").read_bytes()
    h, payload, _ = unpack(data)
    prior = shipped_prior("default_leech_v2", kind="context")
    assert h.stages == 4 and h.prior == prior.kind and h.prior_id == prior.fingerprint()
    tokens = prior.decode_stages(payload, (h.grid_h, h.grid_w), h.stages)
    assert tokens.shape == (9, 12, 4)
    assert hashlib.sha256(tokens.astype("<i4").tobytes()).hexdigest() == V2_TOKENS_SHA256
    assert shipped_model_for(h.model_id) == "default_leech_v2"
    assert main(["decompress", str(GOLDEN / "astronaut_crop_v2_q4.npq"), str(tmp_path / "out.png")]) == 0


def test_neural_prior_golden_file_decodes_to_its_tokens(tmp_path):
    """v1's tokens coded by its integer neural prior: the same tokens as the context-prior file."""
    data = (GOLDEN / "astronaut_crop_neural.npq").read_bytes()
    h, payload, _ = unpack(data)
    prior = shipped_prior("default_leech_f8", kind="neural")
    assert h.prior == prior.kind == 3 and h.prior_id == prior.fingerprint()
    tokens = prior.decode(payload, (h.grid_h, h.grid_w))
    assert hashlib.sha256(tokens.astype("<i4").tobytes()).hexdigest() == NEURAL_V1_TOKENS_SHA256
    assert main(["decompress", str(GOLDEN / "astronaut_crop_neural.npq"), str(tmp_path / "out.png")]) == 0


def test_neural_prior_multi_stage_golden_file_decodes_to_its_tokens(tmp_path):
    """The default model and prior as shipped: 4 stages in one stream, stage k given stage k-1."""
    data = (GOLDEN / "astronaut_crop_v2_q4_neural.npq").read_bytes()
    h, payload, _ = unpack(data)
    prior = shipped_prior("default_leech_v2")  # the default prior
    assert prior.name == "neural" and h.stages == 4 and h.prior == prior.kind and h.prior_id == prior.fingerprint()
    tokens = prior.decode_stages(payload, (h.grid_h, h.grid_w), h.stages)
    assert hashlib.sha256(tokens.astype("<i4").tobytes()).hexdigest() == NEURAL_V2_TOKENS_SHA256
    assert main(["decompress", str(GOLDEN / "astronaut_crop_v2_q4_neural.npq"), str(tmp_path / "out.png")]) == 0
