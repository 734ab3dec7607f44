"""npq.zoo and safe loading: user files never execute code."""

import pytest
import torch

from npq.codec import load_prior
from npq.train.checkpoint import load_checkpoint
from npq.zoo import export_model, load_tokenizer


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))  # would create the marker file when unpickled


@pytest.mark.parametrize("loader", [load_tokenizer, load_prior, load_checkpoint], ids=["model", "prior", "checkpoint"])
def test_a_malicious_pickle_is_refused_without_running(tmp_path, loader):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"config": {}, "model": _Payload(marker)}, path)
    with pytest.raises(ValueError, match="cannot read"):
        loader(path)
    assert not marker.exists()


def test_export_then_load_gives_the_same_model(tmp_path):
    model, cfg = load_tokenizer()
    ckpt = tmp_path / "ckpt.pt"
    torch.save({"config": cfg, "model": model.state_dict(), "ema": None, "step": 7}, ckpt)
    info = export_model(ckpt, tmp_path / "m.pt")
    again, _ = load_tokenizer(tmp_path / "m.pt")
    assert info["step"] == 7
    x = torch.rand(1, 3, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.equal(model.encode(x), again.encode(x))


def test_not_a_model_file(tmp_path):
    torch.save({"weights": torch.zeros(2)}, tmp_path / "w.pt")
    with pytest.raises(ValueError, match="not an npq model file"):
        load_tokenizer(tmp_path / "w.pt")


def test_inference_never_imports_training_code():
    import subprocess
    import sys

    code = ("import sys, npq.zoo, npq.codec, npq.cli.codec, npq.cli.tokens, npq.apps.demo; "
            "bad = sorted(m for m in sys.modules if m == 'npq.train' or m.startswith('npq.train.')); print(bad); assert not bad")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr


def test_shipped_files_are_safetensors_and_torch_files_still_load(tmp_path):
    """The shipped model and priors are safetensors (raw tensors + JSON, nothing to execute);
    exporting to either container gives the same model and the same prior fingerprints, so
    bitstreams written with the old .pt assets still decode."""
    from npq.utils.fileio import load_safetensors
    from npq.zoo import SHIPPED, shipped_prior

    shipped = SHIPPED["default_leech_f8"]
    assert shipped.model.suffix == ".safetensors" and all(p.suffix == ".safetensors" for p in shipped.priors.values())
    raw = load_safetensors(shipped.model)
    assert raw["format"] == "npq-model" and raw["config"]["model"]["quantizer"]["name"] == "leech"
    model, _ = load_tokenizer("default_leech_f8")
    for suffix in (".pt", ".safetensors"):
        info = export_model(shipped.model, tmp_path / f"m{suffix}")
        again, _ = load_tokenizer(tmp_path / f"m{suffix}")
        assert info["step"] == raw["step"]
        assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
    for kind in ("learned", "context", "neural"):
        p = shipped_prior("default_leech_f8", kind=kind)
        p.save(tmp_path / f"{kind}.pt")
        p.save(tmp_path / f"{kind}.safetensors")
        assert load_prior(tmp_path / f"{kind}.pt").fingerprint() == p.fingerprint() == load_prior(tmp_path / f"{kind}.safetensors").fingerprint()
    (tmp_path / "bad.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all}")
    with pytest.raises(ValueError, match="cannot read model file"):
        load_tokenizer(tmp_path / "bad.safetensors")


def test_forged_model_configs_are_refused_before_anything_is_built(tmp_path, monkeypatch):
    """A tiny model file whose config asks for a huge network: checked on the meta device (no
    memory) against the file's tensors and a size bound, before the real build (made to fail
    here if it is reached)."""
    import npq.zoo as zoo
    from npq.utils.fileio import save_safetensors

    model, cfg = zoo.load_tokenizer()
    weights = {k: v.half() for k, v in model.state_dict().items()}
    big = {**cfg, "model": {**cfg["model"], "conv": {**cfg["model"]["conv"], "channels": 40}}}
    save_safetensors(tmp_path / "big.safetensors", {"format": "npq-model", "version": 1, "config": big, "model": weights, "step": 0})
    huge = {**cfg, "model": {**cfg["model"], "conv": {**cfg["model"]["conv"], "channels": 1600}}}  # 9 GB before
    save_safetensors(tmp_path / "huge.safetensors", {"format": "npq-model", "version": 1, "config": huge, "model": {}, "step": 0})
    real = zoo.build_tokenizer

    def only_skeletons(*a, **k):
        m = real(*a, **k)
        assert next(m.parameters()).is_meta, "a real model was built"
        return m

    monkeypatch.setattr(zoo, "build_tokenizer", only_skeletons)
    with pytest.raises(ValueError, match="do not fit the configured model.*the config's model has"):
        zoo.load_tokenizer(str(tmp_path / "big.safetensors"))
    with pytest.raises(ValueError, match="over npq's limit"):
        zoo.load_tokenizer(str(tmp_path / "huge.safetensors"))
