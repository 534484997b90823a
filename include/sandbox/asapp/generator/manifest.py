"""_manifest.json: what a run generated, written last, with its long lists kept on disk until then.

File lists and mess-case ids grow with the dataset, so they are appended to spill files as the run
goes and streamed into the manifest at the end; memory stays flat at any size.
"""

from pathlib import Path
from typing import Any

import orjson


class SpillList:
    """An append-only list of JSON values stored one per line in a scratch file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.file = open(path, "wb")  # closed by close(), once the list is streamed out
        self.count = 0

    def append(self, value: Any) -> None:
        self.file.write(orjson.dumps(value) + b"\n")
        self.count += 1

    def close(self) -> None:
        self.file.close()

    def encoded_items(self):
        self.close()
        with open(self.path, "rb") as lines:
            for line in lines:
                yield line.rstrip(b"\n")


def write_json(path: Path, value: Any) -> None:
    """Indented JSON in the values' own key order; SpillList values are streamed in as arrays."""
    with open(path, "wb") as out:
        _write(out, value, 0)
        out.write(b"\n")


def _write(out, value: Any, depth: int) -> None:
    pad, inner = b"  " * depth, b"  " * (depth + 1)
    if isinstance(value, dict) and value:
        out.write(b"{\n")
        for position, (key, item) in enumerate(value.items()):
            out.write(inner + orjson.dumps(key) + b": ")
            _write(out, item, depth + 1)
            out.write(b",\n" if position < len(value) - 1 else b"\n")
        out.write(pad + b"}")
    elif isinstance(value, SpillList) and value.count:
        out.write(b"[\n")
        for position, encoded in enumerate(value.encoded_items()):
            out.write(inner + encoded + (b",\n" if position < value.count - 1 else b"\n"))
        out.write(pad + b"]")
    elif isinstance(value, SpillList):
        out.write(b"[]")
    else:
        out.write(orjson.dumps(value))
