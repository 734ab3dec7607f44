"""Build, load and export tokenizers and priors; the shipped models by name. No training code.

Model files: an exported model (``{"format": "npq-model", "config", "model", "step"}``, fp16
weights) or a training checkpoint (``{"config", "model", "ema", ...}``). Both are read without
executing code (``weights_only``). The shipped default model and its learned prior live in
``npq/assets``; ``load_tokenizer()`` with no argument loads it, so every command works offline.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from .codec.priors import Prior, load_prior
from .models import Tokenizer, build_tokenizer
from .hub import looks_like_repo_id, resolve_pretrained
from .models.pretrained import load_pretrained_state
from .utils.fileio import SAFETENSORS_SUFFIX, atomic_write, load_state, save_safetensors

__all__ = ["from_pretrained", "ASSETS", "SHIPPED", "DEFAULT", "DEFAULT_PRIOR", "PRIOR_PREFERENCE", "ShippedModel", "load_tokenizer", "load_default", "shipped_prior", "shipped_priors", "shipped_model_for", "shipped_tokenizer_for", "export_model", "load_generator",
           "SHIPPED_GENERATORS", "DEFAULT_GENERATOR"]

ASSETS = Path(__file__).parent / "assets"


@dataclass(frozen=True)
class ShippedModel:
    """A model shipped inside the package: its tokenizer file and its token priors by name."""

    name: str
    model: Path
    priors: dict[str, Path]

    @property
    def prior(self) -> Path | None:
        """The learned (transformer) prior's file."""
        return self.priors.get("learned")


SHIPPED = {
    "default_leech_f8": ShippedModel("default_leech_f8", ASSETS / "default_leech_f8.safetensors", {
        "learned": ASSETS / "default_leech_f8_prior.safetensors", "context": ASSETS / "default_leech_f8_context.safetensors",
        "neural": ASSETS / "default_leech_f8_neural.safetensors"}),
    "default_leech_v2": ShippedModel("default_leech_v2", ASSETS / "default_leech_v2.safetensors", {
        "neural": ASSETS / "default_leech_v2_neural.safetensors", "context": ASSETS / "default_leech_v2_context.safetensors"}),
    # the Fashion-MNIST tokenizers (32x32 -> 8x8 tokens) of the shipped generators
    "fmnist_bsq18": ShippedModel("fmnist_bsq18", ASSETS / "fmnist_bsq18.safetensors", {}),
    "fmnist_leech": ShippedModel("fmnist_leech", ASSETS / "fmnist_leech.safetensors", {}),
}
# shipped generators (folders: config.json + model.safetensors + README.md), by name: the default
# is the best measured pair (BSQ-18 bits, docs/generation.md); fmnist-leech is the Λ24-SQ pair
SHIPPED_GENERATORS = {"fmnist": ASSETS / "generator_fmnist", "fmnist-leech": ASSETS / "generator_fmnist_leech"}
DEFAULT_GENERATOR = "fmnist"
DEFAULT = "default_leech_v2"
# the prior `npq compress` uses with a shipped model when none is named: the first of these the
# model ships. The portable ones first (their files decode on every machine; the learned
# transformer's only where its float logits agree): the integer neural prior, then the counts.
PRIOR_PREFERENCE = ("neural", "context", "learned")
DEFAULT_PRIOR = PRIOR_PREFERENCE[0]
_ALIASES = {"default": DEFAULT}


def _shipped(name: str) -> ShippedModel | None:
    return SHIPPED.get(_ALIASES.get(name, name))


MAX_MODEL_VALUES = 2_000_000_000  # parameters + buffers of a model file's config (8 GB in float32)


def _check_against_skeleton(path, model_cfg, resolution: int, weights) -> None:
    """Build the configured model on the ``meta`` device (no memory) and compare it with the file
    before anything is allocated: a size over ``MAX_MODEL_VALUES`` and weights whose names or
    shapes differ from the config's model are refused with ValueError (a 181-byte file asking for
    conv channels 1600 used to allocate 9 GB before failing)."""
    import torch

    if not isinstance(weights, dict) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise ValueError(f"{path}: the model weights are not a mapping of tensors")
    with torch.device("meta"):
        skeleton = build_tokenizer(model_cfg, resolution)
    shapes = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
    total = sum(int(torch.Size(s).numel()) for s in shapes.values())
    if total > MAX_MODEL_VALUES:
        raise ValueError(f"{path}: its config describes a model of {total / 1e6:,.0f} M values, over npq's limit of "
                         f"{MAX_MODEL_VALUES / 1e6:,.0f} M: refusing to build it")
    missing, unexpected = sorted(set(shapes) - set(weights)), sorted(set(weights) - set(shapes))
    wrong = [k for k in shapes if k in weights and tuple(weights[k].shape) != shapes[k]]
    if missing or unexpected or wrong:
        detail = "; ".join(x for x in (f"missing {missing[:3]}" if missing else "", f"unexpected {unexpected[:3]}" if unexpected else "",
                                        f"{wrong[0]} is {tuple(weights[wrong[0]].shape)}, the config's model has {shapes[wrong[0]]}" if wrong else "") if x)
        raise ValueError(f"{path}: the weights do not fit the configured model ({detail})")


def from_pretrained(name: str | Path = DEFAULT) -> Tokenizer:
    """A tokenizer in eval mode from a pretrained folder (:mod:`npq.models.pretrained`), a Hugging
    Face repo id ("owner/name", :mod:`npq.hub`), a model file, or a shipped model name."""
    return load_tokenizer(name)[0]


def load_tokenizer(source: str | Path | None = None, ema: bool = True, map_location="cpu") -> tuple[Tokenizer, dict]:
    """(tokenizer in eval mode, its training config as a dict) from a model file, a training
    checkpoint or run folder (its latest checkpoint; EMA weights unless ``ema=False``), a
    pretrained folder or Hugging Face repo id,
    or a shipped model name (default: the default).

    Raises FileNotFoundError / ValueError naming the path for a missing or unreadable file.
    """
    shipped = _shipped(str(source or DEFAULT))
    path = shipped.model if shipped is not None else Path(source)
    if shipped is not None and not path.is_file():
        raise FileNotFoundError(f"the shipped model file is missing: {path} (reinstall npq, or run scripts/train_default.sh)")
    if shipped is None and path.is_dir() and not (path / "model.safetensors").is_file() and any(path.glob("ckpt_*.pt")):
        path = max(path.glob("ckpt_*.pt"))  # a training run's folder: its latest checkpoint (zero-padded step numbers)
    if shipped is None and (path.is_dir() or looks_like_repo_id(str(source))):  # a pretrained folder or a hub repo id
        path = resolve_pretrained(source)
        st = load_pretrained_state(path)
    else:
        st = load_state(path, "model file", map_location)
    if not isinstance(st, dict) or "config" not in st or "model" not in st:
        raise ValueError(f"{path} is not an npq model file or training checkpoint (no config/model)")
    cfg = st["config"]
    if not isinstance(cfg, dict) or "model" not in cfg:
        raise ValueError(f"{path}: the config has no model section")
    weights = st["ema"] if (ema and st.get("ema") is not None) else st["model"]
    resolution = cfg.get("data", {}).get("resolution", 128) if isinstance(cfg.get("data", {}), dict) else 128
    if isinstance(resolution, bool) or not isinstance(resolution, int) or not 8 <= resolution <= 8192:
        raise ValueError(f"{path}: the config's data.resolution must be an integer in [8, 8192], got {resolution!r}")
    _check_against_skeleton(path, cfg["model"], resolution, weights)
    model = build_tokenizer(cfg["model"], resolution)
    try:
        model.load_state_dict({k: (v.float() if v.is_floating_point() else v) for k, v in weights.items()})
    except RuntimeError as e:
        raise ValueError(f"{path}: the weights do not fit the configured model: {e}") from None
    return model.eval(), cfg


def shipped_prior(source: str | Path | None = None, kind: str | None = None) -> Prior | None:
    """The prior of kind ``kind`` (``"neural"``, ``"context"``, ``"learned"``) shipped with a
    shipped model; ``kind=None``: the model's default prior (the first of
    :data:`PRIOR_PREFERENCE` it ships). None for other models or if absent."""
    shipped = _shipped(str(source or DEFAULT))
    if shipped is None:
        return None
    if kind is None:
        kind = next((k for k in PRIOR_PREFERENCE if k in shipped.priors and shipped.priors[k].is_file()), None)
    path = shipped.priors.get(kind) if kind is not None else None
    return load_prior(path) if path is not None and path.is_file() else None


def shipped_priors(source: str | Path | None = None) -> list[Prior]:
    """Every prior shipped with a shipped model (empty for other models)."""
    shipped = _shipped(str(source or DEFAULT))
    return [p for p in (shipped_prior(source, k) for k in (shipped.priors if shipped else {})) if p is not None]


def shipped_model_for(model_id: bytes) -> str | None:
    """The name of the shipped model whose weights have this id (a bitstream header's model_id),
    the default first; None if none has (decompress then needs --checkpoint)."""
    found = shipped_tokenizer_for(model_id)
    return found[0] if found is not None else None


def shipped_tokenizer_for(model_id: bytes) -> tuple[str, Tokenizer] | None:
    """(name, tokenizer in eval mode) of the shipped model whose weights have this id, the
    default first (each candidate is loaded once, so the match needs no second load); None if none has."""
    from .codec.codec import legacy_model_id
    from .codec.codec import model_id as _model_id

    for name in [DEFAULT] + [n for n in SHIPPED if n != DEFAULT]:
        if SHIPPED[name].model.is_file() and model_id in (_model_id(model := load_tokenizer(name)[0]), legacy_model_id(model)):
            return name, model
    return None


def load_default() -> tuple[Tokenizer, Prior | None]:
    """(tokenizer, default prior or None) of the shipped default model; no network needed."""
    return load_tokenizer()[0], shipped_prior()


def export_model(checkpoint: str | Path, out: str | Path, half: bool = True) -> dict:
    """Write a compact model file (config + EMA weights, fp16 by default) from a training checkpoint
    (or a model file): safetensors when ``out`` ends in ``.safetensors`` (what npq ships), else a
    torch file readable with ``weights_only``."""
    st = load_state(checkpoint, "checkpoint")
    weights = st["ema"] if st.get("ema") is not None else st["model"]
    if half:
        weights = {k: (v.half() if v.is_floating_point() else v) for k, v in weights.items()}
    info = {"format": "npq-model", "version": 1, "config": st["config"], "model": weights, "step": int(st["step"])}
    if Path(out).suffix == SAFETENSORS_SUFFIX:
        save_safetensors(out, info)
    else:
        atomic_write(out, lambda f: torch.save(info, f))
    return info


def load_generator(source: str | Path | None = None, ema: bool = True):
    """(generator in eval mode, its tokenizer, its description) from a generator folder, a
    ``npq train-generator`` run folder or checkpoint (EMA weights unless ``ema=False``), a Hugging
    Face repo id, or a shipped generator name (default: the shipped Fashion-MNIST generator).
    The tokenizer is the one the description names (a path relative to the generator folder is
    found there too)."""
    from .generate.io import build_from_description, read_generator

    name = str(source or DEFAULT_GENERATOR)
    path = SHIPPED_GENERATORS.get(name)
    if path is not None and not (path / "config.json").is_file():
        raise FileNotFoundError(f"the shipped generator is missing: {path} (reinstall npq, or run scripts/generation_benchmark.py)")
    if path is None:
        path = Path(name)
        if not path.exists() and looks_like_repo_id(name):
            path = _download_generator(name)
    desc, weights, step = read_generator(path, ema)
    tok_ref = str(desc.get("tokenizer", ""))
    base = path if path.is_dir() else path.parent
    if tok_ref and not _shipped(tok_ref) and not Path(tok_ref).exists() and (base / tok_ref).exists():
        tok_ref = str(base / tok_ref)
    tokenizer = load_tokenizer(tok_ref)[0]
    gen = build_from_description(desc, tokenizer.quantizer, weights, str(path))
    return gen, tokenizer, {**desc, "step": step, "source": name}


def _download_generator(repo_id: str) -> Path:
    from .hub import download_repo

    return download_repo(repo_id, "generator")
