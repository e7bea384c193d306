"""Seconds and peak memory of `gru4recf convert yoochoose` on a synthetic raw file of the real format.

    python benchmarks/bench_convert.py --rows=3000000 --out=/tmp/bench_convert

Writes `<out>/raw/yoochoose-clicks.dat` (`SessionId,Timestamp,ItemId,Category`, ISO 8601 times with
milliseconds over 180 days, about 4 clicks per session, Zipf-like item ids, 70% category `0`; the
writing is not timed), then converts it to `<out>/yoochoose/` and prints the wall and CPU seconds of
the conversion and the process's peak RSS (an upper bound: writing the raw file is included). The real yoochoose-clicks.dat has 33M rows.
"""
import argparse
import resource
import sys
import time
from pathlib import Path
from typing import Optional, Sequence

import numpy as np
import pandas as pd

from gru4recf.data.convert import convert


def write_raw(path: Path, rows: int, seed: int = 0) -> None:
    """A yoochoose-clicks.dat of `rows` clicks, sessions in file order as in the real file."""
    rng = np.random.default_rng(seed)
    sessions = np.sort(rng.integers(1, max(rows // 4, 2), rows))
    offsets = pd.to_timedelta(np.sort(rng.integers(0, 180 * 86400 * 1000, rows)), unit="ms")
    times = (pd.Timestamp("2014-04-01", tz="UTC") + offsets).strftime("%Y-%m-%dT%H:%M:%S.%f").str[:-3] + "Z"
    items = rng.zipf(1.3, rows) % 50000 + 214500000
    categories = np.where(rng.random(rows) < 0.7, "0", "S")
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"s": sessions, "t": times, "i": items, "c": categories}).to_csv(path, header=False, index=False)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=3_000_000, help="clicks in the raw file (default 3,000,000)")
    parser.add_argument("--out", default="/tmp/bench_convert", help="work folder (default /tmp/bench_convert)")
    parser.add_argument("--protocol", default="hidasi2023", help="preprocessing protocol (default hidasi2023)")
    args = parser.parse_args(argv)
    out = Path(args.out)
    raw = out / "raw" / "yoochoose-clicks.dat"
    write_raw(raw, args.rows)
    wall, cpu = time.perf_counter(), time.process_time()
    folder = convert("yoochoose", raw.parent, out, args.protocol)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    kept = sum(1 for _ in open(folder / "yoochoose.inter", "rb")) - 1
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    print(f"{args.rows} raw rows -> {kept} interactions ({args.protocol}): {wall:.1f} s wall, {cpu:.1f} s CPU, "
          f"peak RSS {peak:.0f} MiB, writing the raw file included (raw file {raw.stat().st_size / 2**20:.0f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
