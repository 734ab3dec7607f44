"""Geometry tools: the grand tableau, minimum distances, sphere closed forms, figures."""

from .dmin import min_angle, min_angle_bruteforce, min_angle_leech
from .tableau import KEYS, RowSpec, compute_tableau, default_rows, format_tableau

__all__ = ["compute_tableau", "format_tableau", "KEYS", "RowSpec", "default_rows", "min_angle", "min_angle_bruteforce", "min_angle_leech"]
