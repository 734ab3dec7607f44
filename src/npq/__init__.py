"""npq: visual tokenization with non-parametric quantization (lattice codes, Λ24-SQ, LFQ/BSQ/FSQ)."""

__version__ = "0.1.0"
