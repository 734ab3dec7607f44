"""The README's usage example, mirrored (keep the two in sync)."""

import torch

from npq.quantize import LeechSQ, make


def test_readme_example():
    q = LeechSQ()
    assert q.dim == 24 and q.codebook_size == 196560 and round(q.bits_per_token, 2) == 17.58
    z = torch.randn(8, 16, 16, 24, requires_grad=True)
    out = q(z)
    out.z_q.sum().backward()
    assert z.grad is not None and z.grad.shape == z.shape
    tokens = q.encode(z)
    assert tokens.shape == (8, 16, 16) and tokens.dtype == torch.int64
    assert torch.equal(q.decode(tokens), out.z_q)

    feat = torch.randn(2, 24, 32, 32)
    grid = q.encode_image(feat)
    assert grid.shape == (2, 32, 32)

    bsq = make("bsq", dim=18, entropy={"weight": 0.1, "gamma": 1.0, "group_size": 9})
    fsq = make("fsq", bits=14)
    assert bsq.codebook_size == 2**18 and fsq.levels == [8, 8, 8, 6, 5]
    assert float(bsq(torch.randn(32, 18)).loss) != 0.0


def test_readme_mentions_the_commands():
    from pathlib import Path

    text = (Path(__file__).parents[1] / "README.md").read_text()
    assert "make demo" in text and "make test" in text
    ci = (Path(__file__).parents[1] / ".ci" / "run").read_text()
    assert "make test" in ci


def _blocks(lang: str) -> list[str]:
    import re
    from pathlib import Path

    text = (Path(__file__).parents[1] / "README.md").read_text()
    return re.findall(rf"```{lang}\n(.*?)```", text, flags=re.S)


def test_every_python_block_of_the_readme_runs():
    """Each ```python block, executed in order in one namespace (so the README cannot drift)."""
    blocks = _blocks("python")
    assert len(blocks) >= 2
    ns: dict = {"torch": torch}
    for code in blocks:
        exec(compile(code, "README.md", "exec"), ns)  # noqa: S102 - the project's own README


def test_every_npq_command_of_the_readme_parses():
    """Each `npq ...` line of the ```sh blocks (and `torchrun ... -m npq.cli.main ...`) is a
    command with options the parser accepts (the commands themselves run elsewhere in the suite
    or in make bench / make demo)."""
    import shlex

    from npq.cli.main import build_parser

    parser, seen = build_parser(), 0
    for block in _blocks("sh"):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if "npq.cli.main" in words:
                words = ["npq"] + words[words.index("npq.cli.main") + 1 :]
            if not words or words[0] != "npq":
                continue
            args = parser.parse_args(words[1:])
            assert getattr(args, "func", None) is not None, line
            seen += 1
    assert seen >= 15, seen
