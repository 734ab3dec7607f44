"""Pretrained weights are fetched on first use into the torch hub cache, checked against the
SHA-256 prefix their name carries, from a server on 127.0.0.1 standing in for the published URL
(``NPQ_WEIGHTS_BASE_URL``); a wrong or failed download leaves nothing and is one clear line."""

import functools
import hashlib
import http.server
import io
import threading

import pytest
import torch

from npq.utils import weights as W
from npq.utils.weights import MissingWeightsError, resolve_weights


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    th = threading.Thread(target=httpd.serve_forever, daemon=True)
    th.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture
def online(server, tmp_path, monkeypatch):
    root, url = server
    monkeypatch.delenv("NPQ_OFFLINE", raising=False)
    monkeypatch.setenv("NPQ_WEIGHTS_BASE_URL", url)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch_home"))
    return root


def _weights_file() -> tuple[bytes, str]:
    buf = io.BytesIO()
    torch.save({"w": torch.arange(6.0)}, buf)
    data = buf.getvalue()
    return data, f"tiny-{hashlib.sha256(data).hexdigest()[:8]}.pth"


def test_download_into_the_cache_with_a_checked_hash(online, monkeypatch):
    data, name = _weights_file()
    (online / name).write_bytes(data)
    monkeypatch.setitem(W.WEIGHT_URLS, name, "https://example.invalid/" + name)
    path = resolve_weights("tiny", name, None, "NPQ_TINY")
    assert path == W.hub_checkpoint_dir() / name and path.read_bytes() == data
    (online / name).unlink()  # second use: from the cache, no request
    assert resolve_weights("tiny", name, None, "NPQ_TINY") == path


def test_a_download_with_the_wrong_hash_is_not_kept(online, monkeypatch):
    data, name = _weights_file()
    (online / name).write_bytes(data + b"tampered")
    monkeypatch.setitem(W.WEIGHT_URLS, name, "https://example.invalid/" + name)
    with pytest.raises(MissingWeightsError, match="SHA-256") as e:
        resolve_weights("tiny", name, None, "NPQ_TINY")
    assert str(W.hub_checkpoint_dir() / name) in str(e.value) and len(str(e.value).splitlines()) == 1
    assert not W.hub_checkpoint_dir().exists() or not any(W.hub_checkpoint_dir().iterdir())  # no partial file


def test_the_real_names_fail_clearly_when_the_server_lacks_them(online):
    with pytest.raises(MissingWeightsError, match="alexnet-owt-7be5be79.pth.*download from http://127.0.0.1.*failed"):
        resolve_weights("LPIPS alex backbone", "alexnet-owt-7be5be79.pth", None, "NPQ_LPIPS_BACKBONE")


def test_offline_says_so(monkeypatch, tmp_path):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setenv("NPQ_OFFLINE", "1")
    with pytest.raises(MissingWeightsError, match="downloads are off"):
        resolve_weights("InceptionV3", "weights-inception-2015-12-05-6726825d.pth", None, "NPQ_INCEPTION_WEIGHTS")
