"""Same arguments, same bytes (in-process or through the command); another seed, another dataset."""

import hashlib
import subprocess
import sys
from pathlib import Path

from tests.sandbox.asapp.generated import generate_into, manifest

REPO_ROOT = Path(__file__).resolve().parents[3]
ARGUMENTS = {"seed": 11, "conversations": 150, "realtime_hours": 3}


def fingerprint(root: Path) -> dict[str, str]:
    return {
        str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def test_the_same_arguments_produce_identical_files(tmp_path):
    first = fingerprint(generate_into(tmp_path / "first", **ARGUMENTS))
    command = [
        sys.executable,
        "-m",
        "include.sandbox.asapp",
        "generate",
        "--out",
        str(tmp_path / "second"),
        "--seed",
        "11",
        "--conversations",
        "150",
        "--realtime-hours",
        "3",
    ]
    subprocess.run(
        command,
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        env={"PYTHONHASHSEED": "123", "TZ": "Asia/Tokyo"},
    )
    assert fingerprint(tmp_path / "second") == first
    assert len(first) > 100
    assert all(manifest(tmp_path / "first")["openings"].values()), "bot and rep openings are compared too"


def test_another_seed_produces_other_content(tmp_path):
    first = fingerprint(generate_into(tmp_path / "first", **ARGUMENTS))
    other = fingerprint(generate_into(tmp_path / "other", **{**ARGUMENTS, "seed": 12}))
    shared_paths = set(first) & set(other)
    changed = [path for path in shared_paths if first[path] != other[path]]
    assert any(p.startswith("utterances/") for p in changed) and "_realtime/events.jsonl" in changed
    assert first["_manifest.json"] != other["_manifest.json"]
