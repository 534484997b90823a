"""Peak memory does not grow with the number of conversations (the generator streams to disk).

Ten times the conversations may add a few megabytes (larger rare attachments, a longer longest
conversation); keeping rows or conversations in memory would add hundreds. benchmarks/generate_asapp.py
shows the same at larger sizes.
"""

import json
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[3]
CHILD = """
import json, resource, sys
from pathlib import Path
from include.sandbox.asapp.generator import Options, generate
summary = generate(Options(out=Path(sys.argv[1]), conversations=int(sys.argv[2])))
peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"peak_kb": peak_kb, "rows": sum(summary["rows"].values())}))
"""


def peak_memory(out: Path, conversations: int) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(out), str(conversations)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def test_ten_times_the_conversations_needs_about_the_same_memory(tmp_path):
    small = peak_memory(tmp_path / "small", 1500)
    large = peak_memory(tmp_path / "large", 15000)
    assert large["rows"] > 9 * small["rows"]
    assert large["peak_kb"] - small["peak_kb"] < 10 * 1024, (small, large)
