"""The npq bitstream: header, payload and checksums (documented in docs/bitstream.md).

Layout (big-endian)::

    magic        4 bytes  b"NPQ\\x89"
    version      u8       1, or 2 when the file is tiled or multi-stage (the fields marked v2)
    model_id     16 bytes SHA-256 (truncated) of the quantizers' structure, generated tables and weights
    prior        u8       the prior's kind (npq.codec.priors: 0 = uniform, 1 = learned)
    prior_id     8 bytes  the prior's fingerprint (SHA-256 of its weights; zeros for uniform)
    height       u32      original image height (pixels)
    width        u32      original image width
    mode         u8       0 = L (grayscale), 1 = RGB, 2 = RGBA
    grid_h       u16      token grid height (padded image / downsampling)
    grid_w       u16      token grid width
    n_codes      u32      codebook size
    token_crc    u32      CRC32 of the token grid (int32, row-major): catches a decoder that
                          computed different probabilities
    tile         u16      v2: tokens per tile side of the network passes (0 = one pass)
    margin       u8       v2: tokens of context around each tile
    stages       u8       v2: quantizer stages coded per token (1 for a single quantizer)
    alpha_len    u32      length of the alpha plane (zlib, lossless); 0 unless mode = RGBA
    payload_len  u32      length of the entropy-coded tokens
    alpha        alpha_len bytes
    payload      payload_len bytes
    crc32        u32      CRC32 of everything above
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

__all__ = ["MAGIC", "VERSION", "Header", "BitstreamError", "pack", "unpack", "MODES"]

MAGIC = b"NPQ\x89"
VERSION = 2  # the newest version this npq reads and writes; version 1 files (no tiling) are still written when possible
MODES = {"L": 0, "RGB": 1, "RGBA": 2}
_FMT = {1: ">4sB16sB8sIIBHHIIII", 2: ">4sB16sB8sIIBHHIIHBBII"}
_HEAD = {v: struct.calcsize(f) for v, f in _FMT.items()}


class BitstreamError(ValueError):
    """A file that is not a valid npq bitstream for this model (corrupt, truncated, foreign)."""


@dataclass
class Header:
    """The checked header of an npq bitstream (field by field in docs/bitstream.md): model and prior
    identifiers, image size and mode, token grid, codebook size, token CRC, tiling and coded
    stages."""
    model_id: bytes
    prior: int
    prior_id: bytes
    height: int
    width: int
    mode: str
    grid_h: int
    grid_w: int
    n_codes: int
    token_crc: int
    tile: int = 0  # tokens per tile side of the encoder/decoder passes (0: the whole image at once)
    margin: int = 0  # tokens of context around each tile
    stages: int = 1

    @property
    def version(self) -> int:
        """1 for files any npq >= 0.1 reads (one pass, one stage), else 2."""
        return 1 if self.tile == 0 and self.stages == 1 else 2


def pack(h: Header, payload: bytes, alpha: bytes = b"") -> bytes:
    """Serialize header, alpha plane and payload, followed by the CRC32."""
    v = h.version
    extra = () if v == 1 else (h.tile, h.margin, h.stages)
    body = struct.pack(
        _FMT[v], MAGIC, v, h.model_id, h.prior, h.prior_id, h.height, h.width, MODES[h.mode], h.grid_h, h.grid_w,
        h.n_codes, h.token_crc, *extra, len(alpha), len(payload),
    ) + alpha + payload
    return body + struct.pack(">I", zlib.crc32(body))


HEADER_PREFIX = max(_HEAD.values())  # bytes enough for :func:`declared_size` of any version


def declared_size(prefix: bytes) -> int:
    """The total file size a bitstream's header declares, from its first ``HEADER_PREFIX`` bytes
    (magic, version and lengths checked): a reader compares it with the file's size before reading
    the rest, so a forged 1 GiB file costs nothing. Raises BitstreamError."""
    if len(prefix) < 4 or prefix[:4] != MAGIC:
        raise BitstreamError("empty file: not an npq bitstream" if not prefix else "not an npq bitstream (wrong magic bytes)")
    if len(prefix) < min(_HEAD.values()):
        raise BitstreamError(f"truncated npq bitstream ({len(prefix)} bytes, a header needs at least {min(_HEAD.values()) + 4})")
    if prefix[4] not in _FMT:
        raise BitstreamError(f"unsupported npq bitstream version {prefix[4]} (this npq reads versions {sorted(_FMT)})")
    head = _HEAD[prefix[4]]
    if len(prefix) < head:
        raise BitstreamError(f"truncated npq bitstream ({len(prefix)} bytes, header needs {head + 4})")
    alpha_len, payload_len = struct.unpack(_FMT[prefix[4]], prefix[:head])[-2:]
    return head + alpha_len + payload_len + 4


def unpack(data: bytes) -> tuple[Header, bytes, bytes]:
    """Parse and check a bitstream; returns (header, payload, alpha). Raises BitstreamError."""
    if len(data) == 0:
        raise BitstreamError("empty file: not an npq bitstream")
    if len(data) < 4 or data[:4] != MAGIC:
        raise BitstreamError("not an npq bitstream (wrong magic bytes)")
    if len(data) < min(_HEAD.values()) + 4:
        raise BitstreamError(f"truncated npq bitstream ({len(data)} bytes, a header needs at least {min(_HEAD.values()) + 4})")
    version = data[4]
    if version not in _FMT:
        raise BitstreamError(f"unsupported npq bitstream version {version} (this npq reads versions {sorted(_FMT)})")
    head = _HEAD[version]
    if len(data) < head + 4:
        raise BitstreamError(f"truncated npq bitstream ({len(data)} bytes, header needs {head + 4})")
    fields = struct.unpack(_FMT[version], data[:head])
    (magic, version, model_id, prior, prior_id, height, width, mode, gh, gw, n_codes, token_crc) = fields[:12]
    tile, margin, stages = fields[12:15] if version == 2 else (0, 0, 1)
    alpha_len, payload_len = fields[-2:]
    expected = head + alpha_len + payload_len + 4
    if len(data) != expected:
        raise BitstreamError(f"truncated or padded npq bitstream: {len(data)} bytes, header says {expected}")
    body, crc = data[:-4], struct.unpack(">I", data[-4:])[0]
    if zlib.crc32(body) != crc:
        raise BitstreamError("corrupted npq bitstream (CRC32 mismatch)")
    modes = {v: k for k, v in MODES.items()}
    if mode not in modes:
        raise BitstreamError("corrupted npq bitstream (invalid mode field)")
    if version == 2 and (stages < 1 or (tile == 0 and stages == 1)):
        raise BitstreamError("corrupted npq bitstream (invalid tile/stages fields)")
    alpha = data[head : head + alpha_len]
    payload = data[head + alpha_len : head + alpha_len + payload_len]
    return Header(model_id, prior, prior_id, height, width, modes[mode], gh, gw, n_codes, token_crc, tile, margin, stages), payload, alpha
