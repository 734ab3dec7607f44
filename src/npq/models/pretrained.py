"""Pretrained-tokenizer folders, as the field shares models: ``config.json`` (the training
config's ``model`` and ``data`` sections), ``model.safetensors`` (the weights) and a model card
``README.md``. Writing and reading them (JSON and safetensors only: loading runs no code);
downloading a Hugging Face repo into such a folder is :mod:`npq.hub`'s job, loading a tokenizer
from any source :func:`npq.zoo.load_tokenizer`'s.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..utils.fileio import atomic_write_text, load_safetensors, save_safetensors

__all__ = ["save_pretrained", "load_pretrained_state", "is_pretrained_dir", "CONFIG_FILE", "WEIGHTS_FILE", "CARD_FILE"]

CONFIG_FILE, WEIGHTS_FILE, CARD_FILE = "config.json", "model.safetensors", "README.md"


def is_pretrained_dir(path) -> bool:
    """Whether ``path`` is a folder with a ``config.json`` and a ``model.safetensors`` (a
    :meth:`save_pretrained` folder)."""
    p = Path(path)
    return p.is_dir() and (p / CONFIG_FILE).is_file() and (p / WEIGHTS_FILE).is_file()


def _card(config: dict, name: str, metrics: dict | None) -> str:
    model = config.get("model", {})
    q = model.get("quantizer", {})
    lines = [
        "---", "library_name: npq", "tags: [image-tokenizer, vector-quantization, leech-lattice]", "---", "",
        f"# {name}", "",
        f"An npq image tokenizer: `{model.get('arch', '?')}` encoder/decoder, quantizer `{json.dumps(q)}`, trained at "
        f"{config.get('data', {}).get('resolution', '?')} px.", "",
        "```python", "import npq", f'tok = npq.from_pretrained("{name}")', "tokens = tok.encode(images)  # images in [-1, 1], (b, 3, H, W)",
        "images = tok.decode(tokens)", "```", "",
        f"Command line: `npq reconstruct photo.png --checkpoint {name} --out recon/`.", "",
    ]
    train = config.get("data", {}).get("train")
    if train:
        lines += [f"Training data: `{train}`.", ""]
    if metrics:
        lines += ["| metric | value |", "|---|---|"] + [f"| {k} | {v} |" for k, v in metrics.items()] + [""]
    return "\n".join(lines)


def save_pretrained(tokenizer, directory: str | Path, config: dict, card: str | None = None, metrics: dict | None = None,
                    half: bool = False) -> Path:
    """Write ``directory/{config.json, model.safetensors, README.md}``: the training config (its
    ``model`` and ``data`` sections build the tokenizer), the weights (float32, or fp16 with
    ``half``), and a model card (``card``, or one generated from the config and ``metrics``)."""
    if not isinstance(config, dict) or not isinstance(config.get("model"), dict):
        raise ValueError("config must be the training config as a dict with a 'model' section")
    d = Path(directory)
    if d.exists() and not d.is_dir():
        raise ValueError(f"{d} is a file, not a folder")
    d.mkdir(parents=True, exist_ok=True)
    sd = {k: (v.half() if half and v.is_floating_point() else v).detach().cpu().contiguous() for k, v in tokenizer.state_dict().items()}
    save_safetensors(d / WEIGHTS_FILE, {"model": sd})
    cfg = {"format": "npq-pretrained", "version": 1, **{k: config[k] for k in ("name", "model", "data") if k in config}}
    atomic_write_text(d / CONFIG_FILE, json.dumps(cfg, indent=2) + "\n")
    atomic_write_text(d / CARD_FILE, card if card is not None else _card(config, d.name, metrics))
    return d


def load_pretrained_state(directory: Path) -> dict:
    """``{"config": ..., "model": state dict}`` of a pretrained folder (JSON and safetensors only)."""
    try:
        cfg = json.loads((directory / CONFIG_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ValueError(f"cannot read {directory / CONFIG_FILE}: {e}") from None
    if not isinstance(cfg, dict) or not isinstance(cfg.get("model"), dict):
        raise ValueError(f"{directory / CONFIG_FILE} has no 'model' section")
    weights = load_safetensors(directory / WEIGHTS_FILE, "model weights").get("model")
    if not isinstance(weights, dict):
        raise ValueError(f"{directory / WEIGHTS_FILE} holds no model weights")
    return {"config": cfg, "model": weights}
