"""Every public name of every public module (its ``__all__``), and every public method of a public
class, has a docstring (#31: the API reference is generated from them; shapes, dtypes and units
live there)."""

import importlib
import inspect
import pkgutil

import torch

import npq


def _public():
    for m in pkgutil.walk_packages(npq.__path__, "npq."):
        if any(p.startswith("_") for p in m.name.split(".")[1:]):
            continue
        mod = importlib.import_module(m.name)
        for attr in getattr(mod, "__all__", []):
            obj = getattr(mod, attr, None)
            if getattr(obj, "__module__", None) != m.name or not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            yield f"{m.name}.{attr}", obj
            if inspect.isclass(obj):
                for k, v in vars(obj).items():
                    if inspect.isfunction(v) and not k.startswith("_"):
                        yield f"{m.name}.{attr}.{k}", v


def _documented(name: str, obj) -> bool:
    """Its own docstring, or (a method) one inherited from an npq class; never torch's text
    (nn.Module's "Base class for all neural network modules", a dataclass's generated signature)."""
    if inspect.isclass(obj):
        doc = obj.__dict__.get("__doc__") or ""
        return bool(doc.strip()) and not doc.startswith(f"{obj.__name__}(")
    if (obj.__doc__ or "").strip():
        return True
    cls_name, meth = name.rsplit(".", 2)[-2:]
    if hasattr(torch.nn.Module, meth):  # an override of torch's own API (train, cuda, extra_repr, ...)
        return True
    owner = next((o for n, o in _public() if n.endswith("." + cls_name) and inspect.isclass(o)), None)
    for base in getattr(owner, "__mro__", ())[1:]:
        f = vars(base).get(meth)
        if f is not None and (f.__doc__ or "").strip():
            return base.__module__.startswith("npq.")
    return False


def test_every_public_function_and_class_has_a_docstring():
    names = dict(_public())
    assert len(names) > 300
    missing = sorted(n for n, o in names.items() if not _documented(n, o))
    assert missing == [], missing
