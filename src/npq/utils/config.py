"""Configuration plumbing shared by model and training configs: the error type and dataclasses
built from nested mappings with unknown keys named."""

from __future__ import annotations

import dataclasses

__all__ = ["ConfigError", "from_dict"]


class ConfigError(ValueError):
    """An invalid configuration (names the key and what was expected)."""


def from_dict(klass, d: dict, prefix: str = ""):
    """``klass(**d)`` for a dataclass, recursing into dataclass-valued fields; ConfigError for a
    key the dataclass does not have (``prefix`` names the section, e.g. ``"model."``)."""
    if not isinstance(d, dict):
        raise ConfigError(f"{prefix.rstrip('.') or 'config'} must be a mapping, got {type(d).__name__}")
    names = {f.name: f for f in dataclasses.fields(klass)}
    kwargs = {}
    for k, v in d.items():
        if k not in names:
            raise ConfigError(f"unknown config key '{prefix}{k}'; expected one of {sorted(names)}")
        sub = names[k].default_factory if names[k].default_factory is not dataclasses.MISSING else None  # type: ignore[misc]
        kwargs[k] = from_dict(sub, v or {}, f"{prefix}{k}.") if sub is not None and dataclasses.is_dataclass(sub) else v
    return klass(**kwargs)
