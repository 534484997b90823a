"""What the sandbox knows about each uploaded file (name and MIME type), for getattachmentfile.

An upload can be described by a file_uploads row, by the real-time log (journey events carry the
accumulated details.uploaded_files_list, NOTES §4.3) or by events appended at run time; an upload
that happened after the last batch partition is known only from events. The latest statement
wins: feed, then the log file, then run-time appends. Feed and log are read on first use.
"""

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import orjson

from .dataset import Dataset

UPLOADED_FILES = b'"uploaded_files_list"'
"""Only log lines holding this key are parsed: the others cannot describe an upload."""


@dataclass(frozen=True)
class FileFacts:
    name: str | None
    mime_type: str | None


class AttachmentCatalog:
    def __init__(self, dataset: Dataset) -> None:
        self._dataset = dataset
        self._appended: dict[str, FileFacts] = {}

    def describe(self, upload_id: str) -> FileFacts:
        """The most recent facts about an upload; both fields None when nothing names it."""
        return self._appended.get(upload_id) or self._recorded.get(upload_id) or FileFacts(None, None)

    def learn(self, envelopes: Iterable[Any]) -> None:
        """Remember the files listed by envelopes appended at run time (already validated as events)."""
        self._appended.update(_listed_files(envelopes))

    @cached_property
    def _recorded(self) -> dict[str, FileFacts]:
        recorded = {
            row["file_upload_event_id"]: FileFacts(row.get("file_name"), row.get("file_mime_type"))
            for row in self._dataset.rows("file_uploads")
            if row.get("file_upload_event_id")
        }
        recorded.update(_listed_files(self._log_envelopes()))
        return recorded

    def _log_envelopes(self) -> Iterator[Any]:
        path = self._dataset.realtime_log()
        if path.is_file():
            with path.open("rb") as lines:
                yield from (orjson.loads(line) for line in lines if UPLOADED_FILES in line)


def _listed_files(envelopes: Iterable[Any]) -> Iterator[tuple[str, FileFacts]]:
    """(upload id, facts) for every well-formed item of details.uploaded_files_list, in order."""
    for envelope in envelopes:
        details = envelope.get("details") if isinstance(envelope, dict) else None
        items = details.get("uploaded_files_list") if isinstance(details, dict) else None
        for item in items if isinstance(items, list) else ():
            if not isinstance(item, dict):
                continue
            upload_id = item.get("file_upload_event_id")
            facts = FileFacts(_text(item.get("file_name")), _text(item.get("file_mime_type")))
            if isinstance(upload_id, str) and upload_id and (facts.name or facts.mime_type):
                yield upload_id, facts


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None
