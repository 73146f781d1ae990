"""Start-up time of ``inferonomics --help`` (target < 0.3 s), median of 10 runs in fresh processes."""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import time


def main() -> None:
    import os

    local = os.path.join(os.path.dirname(sys.executable), "inferonomics")
    exe = local if os.path.exists(local) else shutil.which("inferonomics")
    cmd = [exe, "--help"] if exe else [sys.executable, "-m", "inferonomics", "--help"]
    times = []
    for _ in range(10):
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - t0)
    print(f"{' '.join(cmd)}: median {statistics.median(times) * 1000:.0f} ms, max {max(times) * 1000:.0f} ms "
          f"over {len(times)} runs (target < 300 ms)")


if __name__ == "__main__":
    main()
