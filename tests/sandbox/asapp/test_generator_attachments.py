"""Attachment binaries are real files of their declared type, size and image dimensions."""

import csv
import io
import re
import struct
import zlib
from collections import Counter

import pytest

from tests.sandbox.asapp.generated import dataset, mess_ids, realtime_events, rows


def png_dimensions(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    position, idat, chunks = 8, b"", []
    while position < len(data):
        (length,) = struct.unpack(">I", data[position : position + 4])
        kind, body = data[position + 4 : position + 8], data[position + 8 : position + 8 + length]
        (crc,) = struct.unpack(">I", data[position + 8 + length : position + 12 + length])
        assert zlib.crc32(kind + body) == crc, kind
        chunks.append(kind)
        idat += body if kind == b"IDAT" else b""
        position += 12 + length
    assert chunks[0] == b"IHDR" and chunks[-1] == b"IEND"
    width, height, depth, color = struct.unpack(">IIBB", data[16:26])
    assert (depth, color) == (8, 2)
    assert len(zlib.decompress(idat)) == height * (1 + 3 * width)
    return width, height


def jpeg_dimensions(data: bytes) -> tuple[int, int]:
    assert data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9"
    position, markers, size = 2, [], None
    while True:
        assert data[position] == 0xFF
        marker = data[position + 1]
        (length,) = struct.unpack(">H", data[position + 2 : position + 4])
        markers.append(marker)
        if marker == 0xC0:
            height, width = struct.unpack(">HH", data[position + 5 : position + 9])
            size = (width, height)
        position += 2 + length
        if marker == 0xDA:
            break
    scan = data[position:-2]
    assert b"\xff" not in scan.replace(b"\xff\x00", b""), "entropy-coded data must stuff 0xFF bytes"
    assert {0xE0, 0xDB, 0xC0, 0xC4, 0xDA} <= set(markers) and size is not None
    return size


def check_pdf(data: bytes) -> None:
    assert data.startswith(b"%PDF-1.") and data.rstrip().endswith(b"%%EOF")
    (start,) = re.findall(rb"startxref\n(\d+)\n", data)
    assert data[int(start) :].startswith(b"xref\n")
    offsets = [int(o) for o in re.findall(rb"(\d{10}) 00000 n", data[int(start) :])]
    for number, offset in enumerate(offsets, start=1):
        assert data[offset:].startswith(b"%d 0 obj" % number)
    (length,) = re.findall(rb"/Length (\d+) >>\nstream\n", data)
    stream_start = data.index(b"stream\n") + len(b"stream\n")
    assert data[stream_start + int(length) :].startswith(b"\nendstream")


def check_content(mime_type: str, data: bytes, width, height) -> None:
    if mime_type == "image/png":
        assert png_dimensions(data) == (width, height)
    elif mime_type == "image/jpeg":
        assert jpeg_dimensions(data) == (width, height)
    elif mime_type == "application/pdf":
        check_pdf(data)
        assert width is None and height is None
    elif mime_type == "text/csv":
        table = list(csv.reader(io.StringIO(data.decode("utf-8"))))
        assert table[0] == ["date", "description", "amount", "currency"] and all(len(r) == 4 for r in table)
    else:
        assert mime_type == "text/plain" and data.decode("utf-8").endswith("\n")


def uploads(root) -> list[dict]:
    """Every upload the batch or the real-time window mentions."""
    items = list(rows(root, "file_uploads"))
    for event in realtime_events(root):
        items += (
            event["details"].get("uploaded_files_list", [])
            if event["event_type"] == "FILE_UPLOAD_DETECTED"
            else []
        )
    return items


def test_every_mentioned_upload_has_its_binary_and_nothing_else_is_stored():
    root = dataset("moderate")
    mentioned = {item["file_upload_event_id"] for item in uploads(root)}
    missing = set(mess_ids(root, "missing_attachment_binaries"))
    assert missing and missing <= mentioned
    assert mentioned - missing == {path.name for path in (root / "_attachments").iterdir()}


def test_binaries_match_their_declared_type_size_and_dimensions():
    root = dataset("moderate")
    missing = set(mess_ids(root, "missing_attachment_binaries"))
    for item in uploads(root):
        if item["file_upload_event_id"] in missing:
            continue
        data = (root / "_attachments" / item["file_upload_event_id"]).read_bytes()
        assert item["file_size_mb"] == pytest.approx(len(data) / 1024 / 1024, abs=0.00006)
        check_content(
            item["file_mime_type"], data, item.get("file_image_width"), item.get("file_image_height")
        )


def test_uploads_come_in_several_types_and_sizes_from_kilobytes_to_megabytes():
    root = dataset("moderate")
    items = uploads(root)
    assert len(Counter(item["file_mime_type"] for item in items)) >= 4
    sizes = sorted(item["file_size_mb"] for item in items)
    assert sizes[0] < 0.05 and sizes[-1] >= 1
    unusual = set(mess_ids(root, "unusual_attachments"))
    assert all(
        item["file_size_mb"] >= 1
        for item in rows(root, "file_uploads")
        if item["file_upload_event_id"] in unusual
    )
