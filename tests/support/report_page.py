"""How the report page writes report.json's figures, for the tests that read the page."""

from __future__ import annotations


def pointer(document: dict, path: str):
    """The value a JSON pointer (`/objects/2/created`) names in report.json."""
    for part in path.strip("/").split("/"):
        document = document[int(part)] if isinstance(document, list) else document[part]
    return document


def shown_as(value) -> str:
    """A figure of report.json as the page shows it."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "–" if value is None else f"{value:,}" if isinstance(value, int | float) else str(value)
