"""Writes the migration's configuration inventory and implementation guide (domain/inventory.py) to
the staging area's inventory folder: inventory.json, inventory.md, implementation_guide.md. Each run that
discovered ASAPP's configuration writes them again, so they say what the latest run read."""

from __future__ import annotations

import json

from asapp_intercom.domain.inventory import build_guide, build_inventory, guide_markdown, inventory_markdown
from asapp_intercom.domain.objects import SchemaObject
from asapp_intercom.ledger import Ledger
from asapp_intercom.pipeline.staging import Staging


def write_inventory(
    staging: Staging,
    ledger: Ledger,
    migration_id: str,
    run_id: str,
    configuration: dict,
    field_map: list[dict],
) -> dict[str, str]:
    """Returns where each file is (the run's report links them)."""
    schema = {
        (record.object_type, record.source_id): record.origin
        for kind in SchemaObject
        for record in ledger.iter_records(kind)
        if record.state == "done"
    }
    inventory = build_inventory(migration_id, run_id, configuration)
    guide = build_guide(inventory, field_map, schema)
    folder = staging.inventory_dir
    files = {
        "inventory": ("inventory.md", inventory_markdown(inventory)),
        "inventory_json": (
            "inventory.json",
            json.dumps({**inventory, "implementation_guide": guide}, indent=2, default=str),
        ),
        "implementation_guide": ("implementation_guide.md", guide_markdown(migration_id, guide)),
    }
    for name, text in files.values():
        staging.write_text(folder / name, text)
    return {key: str(folder / name) for key, (name, _) in files.items()}
