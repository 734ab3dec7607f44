"""Absolute paths to the repository's files, so tests run from any working directory
(importable from every test module: pytest puts this folder on sys.path with the root conftest)."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"
DOCS = REPO / "docs"
TINY_CONFIG = str(CONFIGS / "tiny_cpu_leech.yaml")
