"""Shared fixtures. Paths to repository files: :mod:`repo_paths` (no CWD-relative paths)."""

import os
import shutil
from pathlib import Path

import pytest
import torch

SKIMAGE_DATA = Path(__import__("skimage").__file__).parent / "data"


# no test reaches the network: weights downloads are off (the download code is tested against a
# server on 127.0.0.1 in tests/metrics/test_weights_download.py, which unsets this)
os.environ["NPQ_OFFLINE"] = "1"

if os.environ.get("PYTEST_XDIST_WORKER"):  # `make test` runs two workers on two cores: one thread each,
    torch.set_num_threads(1)  # in this process and (the environment, as `make test` sets it) in those tests start
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def skimage_photos(tmp_path_factory) -> Path:
    """A folder with three small public photos (scikit-image's brick, grass, camera)."""
    d = tmp_path_factory.mktemp("skimage_photos")
    for n in ("brick.png", "grass.png", "camera.png"):
        (d / n).write_bytes((SKIMAGE_DATA / n).read_bytes())
    return d


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture(scope="session")
def browser():
    """``open(path, width=1300, height=1800)``: a headless Chromium (selenium) showing a local file;
    skips where Debian's chromium and chromium-driver are missing (``make setup`` installs them)."""
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("chromium and chromedriver are not installed (make setup installs them: Debian chromium, chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    drivers = []

    def open_page(path: Path, width: int = 1300, height: int = 1800):
        opts = webdriver.ChromeOptions()
        opts.binary_location = CHROMIUM
        for a in ("--headless=new", "--no-sandbox", "--disable-gpu", f"--window-size={width},{height}"):
            opts.add_argument(a)
        opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        d = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
        drivers.append(d)
        d.get(Path(path).as_uri())
        return d

    yield open_page
    for d in drivers:
        d.quit()
