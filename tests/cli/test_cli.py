"""The `npq` command line."""

import subprocess
import sys

import pytest

from npq.cli.main import main
from npq.data.photos import public_eval_photos


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
