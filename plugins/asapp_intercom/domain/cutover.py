"""Cutover: the last run before the support team works in Intercom only, and the switch it leaves behind.

A cutover run (the run form's `cutover_at`, the freeze) follows ASAPP's real-time events up to the
freeze, migrates what changed (the final delta: unchanged records cost nothing), and reads back every
record whose payload changed since an earlier read-back found it in Intercom as sent. Its report says
per object what ASAPP holds against what Intercom holds, what is still quarantined and why, which agents
have no Intercom admin, and whether to go. Once a run that says go has ended, scheduled runs and
backfills stop following ASAPP at the freeze (as they do at the config's `asapp.realtime.cutover_at`).
No Airflow and no I/O here.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any


def effective_cutover(*moments: datetime | None) -> datetime | None:
    """The earliest of the config's `cutover_at` and a cutover on record: after it ASAPP is not followed."""
    known = [moment for moment in moments if moment is not None]
    return min(known) if known else None


def window_before_cutover(
    since: datetime | None, until: datetime | None, cutover: datetime | None
) -> tuple[datetime | None, datetime | None] | None:
    """A scheduled or backfill run's data interval cut at the cutover; None when all of it is after."""
    if cutover is None or since is None or until is None:
        return since, until
    if since >= cutover:
        return None
    return since, min(until, cutover)


def cutover_verdict(
    objects: Iterable[dict[str, Any]],
    quarantine: Iterable[dict[str, Any]],
    agents_without_admin: list[Any],
    failed_tasks: list[dict[str, Any]],
    freeze: datetime,
) -> dict[str, Any]:
    """The cutover report from the run's report rows (object, source, in_intercom, mismatched) and every
    open quarantined item of the migration (object, reason).

    Go only when every task succeeded, every record read back matches, and per object every source record
    is in Intercom or quarantined with a reason. Quarantined records and agents without an admin do not
    stop a cutover (each is listed with what it needs); a record unaccounted for does.
    """
    quarantine = list(quarantine)
    rows, reasons = [], []
    for row in objects:
        source, in_intercom = row.get("source") or 0, row.get("in_intercom") or 0
        quarantined = sum(1 for item in quarantine if item["object"] == row["object"])
        mismatched = row.get("mismatched") or 0
        missing = max(0, source - in_intercom - quarantined)
        rows.append(
            {
                "object": row["object"],
                "asapp": source,
                "intercom": in_intercom,
                "quarantined": quarantined,
                "missing": missing,
                "read_back": row.get("validated") or 0,
                "read_back_earlier": row.get("validated_earlier") or 0,
                "read_back_differences": mismatched,
            }
        )
        if missing:
            reasons.append(
                f"{missing} {row['object']} record(s) of ASAPP are neither in Intercom nor quarantined"
            )
        if mismatched:
            reasons.append(f"{mismatched} {row['object']} record(s) read back differ from ASAPP")
    if failed_tasks:
        reasons.insert(0, "failed: " + ", ".join(item["task"] for item in failed_tasks))
    why: dict[str, int] = {}
    for item in quarantine:
        key = f"{item['object']}: {item['reason']}"
        why[key] = why.get(key, 0) + 1
    go = not reasons
    return {
        "freeze": freeze.isoformat(),
        "objects": rows,
        "quarantined_by_reason": dict(sorted(why.items())),
        "agents_without_intercom_admin": agents_without_admin,
        "go": go,
        "verdict": (
            f"GO: cut over at {freeze.isoformat()}; scheduled runs and backfills stop following ASAPP there"
            if go
            else "NO-GO: " + "; ".join(reasons)
        ),
    }


def cutover_markdown(cutover: dict[str, Any]) -> list[str]:
    lines = ["## Cutover", "", f"**{cutover['verdict']}**", "", f"Freeze: {cutover['freeze']}.", ""]
    lines += [
        "| object | ASAPP | Intercom | quarantined | missing | read back now | unchanged since an earlier "
        "read-back | read-back differences |",
        "|---" * 8 + "|",
    ]
    lines += [
        f"| {row['object']} | {row['asapp']} | {row['intercom']} | {row['quarantined']} | {row['missing']} "
        f"| {row['read_back']} | {row['read_back_earlier']} | {row['read_back_differences']} |"
        for row in cutover["objects"]
    ]
    lines += ["", "Still quarantined, by reason:", ""]
    lines += [f"- {reason}: {count}" for reason, count in cutover["quarantined_by_reason"].items()] or [
        "- none"
    ]
    agents = cutover["agents_without_intercom_admin"]
    lines += ["", f"Agents without an Intercom admin: {len(agents)} (invite them before the team switches)."]
    return lines


def cutover_document(migration_id: str, cutover: dict[str, Any]) -> str:
    """cutover.md: the cutover report on a page of its own, for whoever decides to switch."""
    return "\n".join([f"# Cutover of {migration_id}", *cutover_markdown(cutover)[1:]]) + "\n"
