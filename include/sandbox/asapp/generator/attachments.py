"""Attachment binaries: real files of the declared type, built from a seed, of about a requested size.

An uploader under test must see what customers really send (a PDF a viewer opens, a PNG or JPEG
whose header matches the declared width and height), so each type is built properly rather than
filled with random bytes. Only the standard library is used. A file is built as a list of parts
that are written one after the other, never joined, so a megabyte upload costs about its own size
in memory while it waits to be written.
"""

import math
import random
import struct
import zlib
from dataclasses import dataclass

from .randomness import Weighted

KIB = 1024
MIB = 1024 * KIB
_PART = 64 * KIB


@dataclass(frozen=True)
class Attachment:
    file_name: str
    mime_type: str
    parts: tuple[bytes, ...]
    width: int | None
    height: int | None

    @property
    def size(self) -> int:
        return sum(map(len, self.parts))

    @property
    def size_mb(self) -> float:
        """file_size_mb as written in rows: MiB, four decimals."""
        return round(self.size / MIB, 4)


_NAMES = {
    "application/pdf": ["bill.pdf", "invoice_{month}.pdf", "statement.pdf", "contract_signed.pdf"],
    "image/png": ["screenshot.png", "Screenshot {date} at 14.02.11.png", "error.png"],
    "image/jpeg": ["photo.jpg", "IMG_{number}.jpg", "router_lights.jpeg"],
    "text/plain": ["error_log.txt", "notes.txt", "modem_diagnostics.txt"],
    "text/csv": ["usage.csv", "transactions_{month}.csv"],
}
_UNUSUAL_NAMES = {
    "application/pdf": ["facture détaillée (2).pdf", "契約書.pdf"],
    "image/png": ["скриншот экрана.png", "my  screenshot (final) FINAL.png"],
    "image/jpeg": ["photo 📷.jpg", "IMG-20260105-WA0001.JPEG"],
    "text/plain": ["log (copy).txt", "ñotes_ü.txt"],
    "text/csv": ["export;2026.csv", "données.csv"],
}
MIME_TYPES = Weighted(
    {"image/png": 35, "image/jpeg": 25, "application/pdf": 25, "text/plain": 8, "text/csv": 7}
)


def build(rng: random.Random, unusual: bool) -> Attachment:
    """A typical upload (1 KB to 200 KB, usual name) or an unusual one (1–3 MB, awkward name)."""
    mime_type = MIME_TYPES.pick(rng)
    names = (_UNUSUAL_NAMES if unusual else _NAMES)[mime_type]
    name = rng.choice(names).format(month="2026-01", date="2026-01-05", number=rng.randint(1000, 9999))
    size = (
        rng.randint(1 * MIB, 3 * MIB)
        if unusual
        else int(math.exp(rng.uniform(math.log(KIB), math.log(200 * KIB))))
    )
    width = height = None
    if mime_type == "image/png":
        width, height = _dimensions(rng, pixels=size // 3)  # noise: about 3 bytes per pixel
        parts = png(rng, width, height)
    elif mime_type == "image/jpeg":
        # a flat scan costs 3 bits per 8x8 block; keep it under half the size, the rest is padding
        width, height = _dimensions(rng, pixels=min(4032 * 3024, size * 64 * 8 // 6))
        parts = jpeg(rng, width, height, size)
    elif mime_type == "application/pdf":
        parts = pdf(rng, size)
    elif mime_type == "text/plain":
        parts = text_log(rng, size)
    else:
        parts = csv_statement(rng, size)
    return Attachment(name, mime_type, tuple(parts), width, height)


def _dimensions(rng: random.Random, pixels: int) -> tuple[int, int]:
    """Width and height of about `pixels` pixels, landscape or portrait like photos and screenshots."""
    aspect = rng.uniform(0.6, 1.8)
    width = max(1, round(math.sqrt(pixels * aspect)))
    return width, max(1, pixels // width)


def png(rng: random.Random, width: int, height: int) -> list[bytes]:
    """An RGB PNG of photographic noise (noise keeps the file about width × height × 3 bytes)."""
    compressor = zlib.compressobj(1)
    idat = [compressor.compress(b"\x00" + rng.randbytes(3 * width)) for _ in range(height)]
    idat.append(compressor.flush())
    crc = zlib.crc32(b"IDAT")
    for piece in idat:
        crc = zlib.crc32(piece, crc)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return [
        b"\x89PNG\r\n\x1a\n",
        _png_chunk(b"IHDR", header),
        struct.pack(">I", sum(map(len, idat))) + b"IDAT",
        *(piece for piece in idat if piece),
        struct.pack(">I", crc),
        _png_chunk(b"IEND", b""),
    ]


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def jpeg(rng: random.Random, width: int, height: int, size: int) -> list[bytes]:
    """A baseline grayscale JPEG of one flat tone, padded with comment segments to about `size` bytes.

    A flat image needs one DC difference and then only zero differences, so a two-code DC table and
    an end-of-block-only AC table encode it exactly.
    """
    gray = rng.choice([g for g in range(40, 220) if g != 128])
    dc = 8 * (gray - 128)  # DC coefficient of a flat 8x8 block with quantiser 1
    category = abs(dc).bit_length()
    blocks = math.ceil(width / 8) * math.ceil(height / 8)
    first = (0b01 << (category + 1)) | (
        (dc if dc > 0 else dc + (1 << category) - 1) << 1
    )  # DC '01', bits, EOB '0'
    total = category + 3 + 3 * (blocks - 1)  # every later block: DC '00' + EOB '0'
    pad = -total % 8
    scan = ((first << (total - category - 3 + pad)) | ((1 << pad) - 1)).to_bytes((total + pad) // 8, "big")

    head = _jpeg_segment(0xFFE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
    tables = (
        _jpeg_segment(0xFFDB, b"\x00" + b"\x01" * 64)
        + _jpeg_segment(0xFFC0, struct.pack(">BHHB", 8, height, width, 1) + b"\x01\x11\x00")
        + _jpeg_segment(0xFFC4, b"\x00" + bytes([0, 2] + [0] * 14) + bytes([0, category]))
        + _jpeg_segment(0xFFC4, b"\x10" + bytes([1] + [0] * 15) + b"\x00")
        + _jpeg_segment(0xFFDA, b"\x01\x01\x00\x00\x3f\x00")
    )
    body = scan.replace(b"\xff", b"\xff\x00")
    missing = size - (2 + len(head) + len(tables) + len(body) + 2)
    comments = []
    while missing > 4:
        length = min(missing - 4, 65533)
        comments.append(_jpeg_segment(0xFFFE, _printable(rng, length)))
        missing -= length + 4
    return [b"\xff\xd8", head, *comments, tables, body, b"\xff\xd9"]


def _jpeg_segment(marker: int, data: bytes) -> bytes:
    return struct.pack(">HH", marker, len(data) + 2) + data


def pdf(rng: random.Random, size: int) -> list[bytes]:
    """A one-page PDF statement whose content stream holds enough lines to reach about `size` bytes."""
    lines = _filled(
        rng,
        size - 600,
        lambda r: (
            f"BT /F1 9 Tf 72 {r.randrange(72, 720, 12)} Td "
            f"(2026-01-{r.randint(1, 28):02d}  Service charge  {r.randint(100, 99_999) / 100:.2f} USD) Tj "
            f"ET\n"
        ),
    )
    content = [b"BT /F1 14 Tf 72 750 Td (Account statement) Tj ET\n", *lines]
    objects = [
        [b"<< /Type /Catalog /Pages 2 0 R >>"],
        [b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>"],
        [
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
            b" /Resources << /Font << /F1 5 0 R >> >> >>"
        ],
        [b"<< /Length %d >>\nstream\n" % sum(map(len, content)), *content, b"\nendstream"],
        [b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"],
    ]
    parts = [b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"]
    written, offsets = len(parts[0]), []
    for number, body in enumerate(objects, start=1):
        offsets.append(written)
        for part in (b"%d 0 obj\n" % number, *body, b"\nendobj\n"):
            parts.append(part)
            written += len(part)
    parts.append(
        b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
        + b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
        + b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, written)
    )
    return parts


def text_log(rng: random.Random, size: int) -> list[bytes]:
    return _filled(
        rng,
        size,
        lambda r: (
            f"2026-01-05 {r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d} "
            f"{r.choice(['INFO', 'WARN', 'ERROR'])} modem: signal {r.randint(-90, -30)} dBm, "
            f"retries={r.randint(0, 9)}\n"
        ),
    )


def csv_statement(rng: random.Random, size: int) -> list[bytes]:
    return [
        b"date,description,amount,currency\n",
        *_filled(
            rng,
            size,
            lambda r: (
                f"2026-01-{r.randint(1, 28):02d},Data usage {r.randint(1, 50)} "
                f"GB,{r.randint(1, 9999) / 100:.2f},USD\n"
            ),
        ),
    ]


def _filled(rng: random.Random, size: int, make_line) -> list[bytes]:
    """About `size` bytes of lines, in parts of about 64 KB: 64 drawn lines, then picks among them."""
    pool = [make_line(rng).encode() for _ in range(64)]
    count = max(1, math.ceil(size / (sum(map(len, pool)) / len(pool))))
    lines = pool[:count] if count <= len(pool) else rng.choices(pool, k=count)
    per_part = max(1, _PART * len(pool) // sum(map(len, pool)))
    return [b"".join(lines[start : start + per_part]) for start in range(0, len(lines), per_part)]


_PRINTABLE = bytes(b"abcdefghijklmnopqrstuvwxyz0123456789 "[b % 37] for b in range(256))


def _printable(rng: random.Random, length: int) -> bytes:
    return rng.randbytes(length).translate(_PRINTABLE)
