"""The package layers of docs/design.md hold: each subpackage imports (at module level or inside a
function) only from lower layers, so inference never pulls in training code and the math never
depends on models."""

import ast
from pathlib import Path

import npq

ROOT = Path(npq.__file__).parent
LEVEL = {"utils": 0, "lattices": 1, "quantize": 2, "geometry": 3, "models": 3, "data": 3, "metrics": 4, "losses": 5,
         "codec": 5, "generate": 5, "hub": 6, "zoo": 7, "train": 8, "apps": 9, "cli": 10}


def _imports(path: Path, pkg: list[str]) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level == 0 and (node.module or "").startswith("npq."):
                out.add(node.module.split(".")[1])
            elif node.level > 0:
                base = pkg[: len(pkg) - (node.level - 1)] if node.level > 1 else pkg
                full = base + (node.module.split(".") if node.module else [a.name for a in node.names][:1])
                if full:
                    out.add(full[0])
        elif isinstance(node, ast.Import):
            out |= {a.name.split(".")[1] for a in node.names if a.name.startswith("npq.")}
    return out


def test_every_subpackage_imports_only_lower_layers():
    assert set(LEVEL) == {p.stem if p.is_file() else p.name for p in ROOT.iterdir()
                          if (p.is_dir() and (p / "__init__.py").exists() and p.name != "assets")
                          or (p.suffix == ".py" and p.stem != "__init__")}
    bad = []
    for f in ROOT.rglob("*.py"):
        rel = f.relative_to(ROOT).parts
        pkg = rel[0].removesuffix(".py")
        if pkg == "__init__":
            continue
        for tgt in _imports(f, list(rel[:-1])) - {pkg, "__version__"}:
            if tgt in LEVEL and LEVEL[tgt] >= LEVEL[pkg]:
                bad.append(f"{f.relative_to(ROOT)} imports npq.{tgt}")
    assert not bad, bad
