"""Time the preprocessing of the IMDB archive: full builds, and reruns that reuse the outputs.

    python scripts/time_preprocess.py PATH/TO/aclImdb_v1.tar.gz [--repeat 3] [--processes N]

Each full build starts from an empty output folder in a fresh process, as a
user's first run does; each cached rerun is a fresh process too.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time


def run(source, out, processes):
    cmd = [sys.executable, "-m", "lstm_sentiment.imdb_preprocess", source, "--out", out]
    if processes:
        cmd += ["--processes", str(processes)]
    start = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def summary(times):
    return f"min {min(times):.1f}  median {statistics.median(times):.1f}  max {max(times):.1f} s"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", help="an aclImdb_v1.tar.gz archive or an aclImdb folder")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--processes", type=int, default=None, help="default: one per core")
    args = parser.parse_args()

    full, cached = [], []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as out:
            full.append(run(args.source, out, args.processes))
            cached.append(run(args.source, out, args.processes))
    print(f"cores: {os.cpu_count()}, processes: {args.processes or os.cpu_count()}")
    print(f"full preprocessing   {summary(full)}")
    print(f"cached rerun         {summary(cached)}")


if __name__ == "__main__":
    main()
