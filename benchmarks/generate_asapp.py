"""How fast the ASAPP dataset generator writes, and that its memory stays flat: prints figures, asserts
nothing.

    .venv/bin/python benchmarks/generate_asapp.py [--sizes 1000 20000 200000] [--keep DIR]

Each size runs in a fresh process (so peak RSS, from resource.getrusage, is that run's own) with
the default arguments otherwise (days grow with size, mess on). Datasets go to a temporary
directory removed afterwards unless --keep is given.
"""

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
CHILD = """
import json, os, resource, sys, time
from pathlib import Path
from include.sandbox.asapp.generator import Options, generate
out, conversations = Path(sys.argv[1]), int(sys.argv[2])
started = time.perf_counter()
summary = generate(Options(out=out, conversations=conversations))
seconds = time.perf_counter() - started
peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # before walking the output
written = sum(
    os.path.getsize(os.path.join(folder, name))
    for folder, _, names in os.walk(out) for name in names
)
print(json.dumps({
    "seconds": seconds,
    "rows": sum(summary["rows"].values()),
    "days": summary["arguments"]["days"],
    "events": summary["realtime"]["lines"],
    "attachments_mb": summary["attachments"]["bytes"] / 1e6,
    "written_mb": written / 1e6,
    "peak_rss_mb": peak_rss_mb,
}))
"""


def measure(out: Path, conversations: int) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(out), str(conversations)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(done.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 20000, 200000])
    parser.add_argument("--keep", type=Path, help="keep the datasets under this directory")
    args = parser.parse_args()
    root = args.keep or Path(tempfile.mkdtemp(prefix="asapp-benchmark-"))
    print(
        f"{'conversations':>13} {'days':>5} {'rows':>11} {'seconds':>8} {'rows/s':>9} {'events':>7} "
        f"{'MB written':>10} {'of which attachments':>20} {'peak RSS MB':>11}"
    )
    try:
        for size in args.sizes:
            out = root / f"conversations-{size}"
            figures = measure(out, size)
            print(
                f"{size:>13,} {figures['days']:>5} {figures['rows']:>11,} {figures['seconds']:>8.1f} "
                f"{figures['rows'] / figures['seconds']:>9,.0f} {figures['events']:>7,} "
                f"{figures['written_mb']:>10,.1f} "
                f"{figures['attachments_mb']:>20,.1f} {figures['peak_rss_mb']:>11.1f}",
                flush=True,
            )
            if not args.keep:
                shutil.rmtree(out)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
