"""npq: visual tokenization with non-parametric quantization (lattice codes, Λ24-SQ, LFQ/BSQ/FSQ)."""

__version__ = "0.1.0"


def __getattr__(name: str):
    """``npq.from_pretrained`` without importing torch at ``import npq`` (the CLI's help stays fast)."""
    if name == "from_pretrained":
        from .zoo import from_pretrained

        return from_pretrained
    raise AttributeError(f"module 'npq' has no attribute {name!r}")
