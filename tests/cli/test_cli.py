"""The `npq` command line."""

import subprocess
import sys

import pytest

from repo_paths import REPO

from npq.cli.main import main
from npq.data.photos import public_eval_photos

PHOTO = REPO / "tests" / "data" / "npq-0.1" / "astronaut_crop.png"


def test_help_lists_subcommands(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "tour" in out and "list" in out


def test_console_script_runs():
    r = subprocess.run([sys.executable, "-m", "npq.cli.main", "list"], capture_output=True, text=True, check=True)
    assert "leech()" in r.stdout and "196,560" in r.stdout and "17.58" in r.stdout


def test_tour_on_real_photos(capsys):
    photos = public_eval_photos()[:2]
    assert photos, "scikit-image photos should be installed by make test"
    assert main(["tour", *map(str, photos), "--max-patches", "300", "--quiet", "--json"]) == 0
    out = capsys.readouterr().out
    assert "Λ24-SQ" in out and "BSQ" in out and "FSQ" in out
    import json

    rows = json.loads(out[out.index("[") :])
    leech = next(r for r in rows if r["quantizer"] == "Λ24-SQ")
    assert leech["codebook_size"] == 196560 and 0 < leech["angle_deg"] < 90


def test_tour_missing_file_is_a_clear_error(capsys, tmp_path):
    assert main(["tour", str(tmp_path / "missing.png"), "--quiet"]) == 2
    assert "image file not found" in capsys.readouterr().err


def test_help_version_and_argument_errors_do_not_import_torch():
    """`npq --help` took 4.6 s because torch was imported to build the parser; help, --version
    and argument errors of every command now need no torch (checked in a fresh interpreter)."""
    import subprocess
    import sys

    code = ("import sys\nfrom npq.cli.main import main\n"
            "for argv in (['--help'], ['--version'], ['compress', '--help'], ['compress'], ['train'], ['eval', '--help']):\n"
            "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
            "print('TORCH' if 'torch' in sys.modules else 'NO-TORCH')\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip().splitlines()[-1] == "NO-TORCH", out.stdout[-500:] + out.stderr[-500:]
    assert "npq 0.1.0" in out.stdout


@pytest.mark.parametrize("sig, code", [("SIGINT", 130), ("SIGTERM", 143)])
def test_interrupting_a_command_is_one_line_and_leaves_no_partial_file(tmp_path, sig, code):
    """Ctrl-C printed a 66-line traceback and SIGTERM during a write left a *.tmp file: now one
    line, exit 130 / 143, no partial output (the signal arrives inside the atomic write)."""
    import signal
    import subprocess
    import sys

    script = (
        "import os, signal, time\n"
        "signal.signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal (test runners may ignore SIGINT)\n"
        "import npq.utils.fileio as fio\n"
        "from npq.cli.main import main\n"
        "def slow(path, data):\n"
        "    def write(f):\n"
        "        f.write(b'partial'); f.flush(); print('WRITING', flush=True); time.sleep(30)\n"
        "    return fio.atomic_write(path, write)\n"
        "import npq.cli.tokens as t\n"
        "t.atomic_write_bytes = slow\n"
        f"raise SystemExit(main(['tokenize', {str(PHOTO)!r}, '--out', {str(tmp_path / 't.npz')!r}]))\n"
    )
    p = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert p.stdout.readline().strip() == "WRITING"
    p.send_signal(getattr(signal, sig))
    out, err = p.communicate(timeout=60)
    assert p.returncode == code and len(err.strip().splitlines()) == 1, err
    assert list(tmp_path.iterdir()) == []


def test_every_command_explains_itself_and_its_example_parses():
    """Each subcommand's --help has an example that the parser accepts, every argument has help
    text, and the commands that print per-file lines accept --quiet."""
    import argparse
    import shlex

    from npq.cli.main import EXAMPLES, build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    assert set(sub.choices) == set(EXAMPLES)
    for name, sp in sub.choices.items():
        assert "example:" in sp.format_help(), name
        assert all(a.help for a in sp._actions), (name, [a.dest for a in sp._actions if not a.help])
        for line in EXAMPLES[name].split("\n"):
            args = parser.parse_args(shlex.split(line.strip())[1:])
            assert args.command == name
    for name in ("tokenize", "reconstruct", "decompress", "detokenize", "compress", "eval", "train"):
        assert any("--quiet" in a.option_strings for a in sub.choices[name]._actions), name
