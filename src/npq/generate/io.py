"""Generator files: a pretrained folder (``config.json`` + ``model.safetensors`` + ``README.md``)
or a training checkpoint / run folder of ``npq train-generator``. JSON and safetensors (or
``weights_only`` torch files) only: loading runs no code. The config records what rebuilds the
generator: the transformer config, the head, the class names and the tokenizer (a shipped model
name, a path or a repo id) whose quantizer embeds the tokens and whose decoder makes the pixels.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..quantize.base import Quantizer
from ..utils.fileio import atomic_write_text, load_safetensors, load_torch, save_safetensors
from .model import Generator
from .transformer import GeneratorConfig

__all__ = ["GENERATOR_FORMAT", "save_generator", "read_generator", "build_from_description", "MAX_GENERATOR_VALUES"]

GENERATOR_FORMAT = "npq-generator"
MAX_GENERATOR_VALUES = 2_000_000_000


def _card(desc: dict, name: str, metrics: dict | None) -> str:
    lines = ["---", "library_name: npq", "tags: [image-generation, autoregressive, class-conditional, leech-lattice]", "---", "",
             f"# {name}", "",
             f"A class-conditional autoregressive generator over the tokens of `{desc['tokenizer']}` "
             f"({desc['grid'][0]}x{desc['grid'][1]} tokens), head `{desc['head']}`, classes: {', '.join(desc['classes'])}.", "",
             "```bash", f"npq generate --checkpoint {name} --class {desc['classes'][0]} --n 16 --out grid.png", "```", ""]
    if metrics:
        lines += ["| metric | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in metrics.items()] + [""]
    return "\n".join(lines)


def save_generator(directory: str | Path, description: dict, weights: dict, step: int = 0, card: str | None = None,
                   metrics: dict | None = None) -> Path:
    """Write a generator folder: ``config.json`` ({format, description, step}), the weights
    (``model.safetensors``) and a model card."""
    d = Path(directory)
    if d.exists() and not d.is_dir():
        raise ValueError(f"{d} is a file, not a folder")
    d.mkdir(parents=True, exist_ok=True)
    save_safetensors(d / "model.safetensors", {"model": {k: v.detach().cpu().contiguous() for k, v in weights.items()}})
    atomic_write_text(d / "config.json", json.dumps({"format": GENERATOR_FORMAT, "version": 1, "generator": description, "step": int(step)}, indent=2) + "\n")
    atomic_write_text(d / "README.md", card if card is not None else _card(description, d.name, metrics))
    return d


def read_generator(source: str | Path, ema: bool = True) -> tuple[dict, dict, int]:
    """``(description, weights, step)`` of a generator folder, a run folder (its latest
    checkpoint) or a checkpoint file; FileNotFoundError / ValueError naming the path otherwise."""
    p = Path(source)
    if p.is_dir() and (p / "config.json").is_file() and (p / "model.safetensors").is_file():
        try:
            cfg = json.loads((p / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise ValueError(f"cannot read {p / 'config.json'}: {e}") from None
        if not isinstance(cfg, dict) or cfg.get("format") != GENERATOR_FORMAT or not isinstance(cfg.get("generator"), dict):
            raise ValueError(f"{p} is not an npq generator folder (config.json format {cfg.get('format') if isinstance(cfg, dict) else None!r})")
        weights = load_safetensors(p / "model.safetensors", "generator weights").get("model")
        return cfg["generator"], weights, int(cfg.get("step", 0))
    if p.is_dir():
        ckpts = sorted(p.glob("ckpt_*.pt"))
        if not ckpts:
            raise FileNotFoundError(f"{p}: neither a generator folder (config.json + model.safetensors) nor a training run (ckpt_*.pt)")
        p = ckpts[-1]
    if not p.is_file():
        raise FileNotFoundError(f"generator not found: {p}")
    st = load_torch(p, "generator checkpoint")
    if not isinstance(st, dict) or st.get("format") != "npq-generator-checkpoint" or not isinstance(st.get("generator"), dict):
        raise ValueError(f"{p} is not an npq generator checkpoint (a tokenizer's? use --checkpoint with a generator run)")
    weights = st["ema"] if ema and st.get("ema") is not None else st["model"]
    return st["generator"], weights, int(st.get("step", 0))


def build_from_description(desc: dict, quantizer: Quantizer, weights: dict, where: str = "generator") -> Generator:
    """The generator of ``desc`` with ``weights`` loaded, checked first on the meta device (sizes,
    names and shapes) so a forged config allocates nothing."""
    try:
        tc = dict(desc["transformer"])
        tc["grid"] = tuple(tc["grid"])
        cfg = GeneratorConfig(**tc)
        head, chunk = str(desc["head"]), int(desc.get("chunk", 1024))
    except (KeyError, TypeError, ValueError) as e:
        raise ValueError(f"{where}: invalid generator description ({e})") from None
    if not isinstance(weights, dict) or not all(isinstance(v, torch.Tensor) for v in weights.values()):
        raise ValueError(f"{where}: the weights are not a mapping of tensors")
    with torch.device("meta"):
        skeleton = Generator(cfg, quantizer, head, chunk)
    shapes = {k: tuple(v.shape) for k, v in skeleton.state_dict().items()}
    total = sum(int(torch.Size(s).numel()) for s in shapes.values())
    if total > MAX_GENERATOR_VALUES:
        raise ValueError(f"{where}: its config describes {total / 1e6:,.0f} M values, over the limit of {MAX_GENERATOR_VALUES / 1e6:,.0f} M")
    bad = sorted(set(shapes) ^ set(weights)) + [k for k in shapes if k in weights and tuple(weights[k].shape) != shapes[k]]
    if bad:
        raise ValueError(f"{where}: the weights do not fit the described generator (first difference: {bad[0]})")
    model = Generator(cfg, quantizer, head, chunk)
    model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in weights.items()})
    return model.eval()
