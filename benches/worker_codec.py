"""How partitions travel between the driver and Python worker processes: the engine's wire
format (``_native.encode_partition``/``decode_partition``, postcard over engine values) against
pickle protocol 5 (what a Python-only pool would use), for typical streaming partitions.

Each side of a hand-over is timed on its own: the worker encodes a task's output and decodes
its input in Python; the driver encodes and decodes in Rust without the GIL with the wire
format (``--driver`` times that through the same functions, which hold the GIL only to build
or read Python objects), whereas with pickle the driver would have to unpickle in its one
interpreter, under the GIL shared by every task.

Example: python3 benches/worker_codec.py --records 50000 --repeat 20
"""

from __future__ import annotations

import argparse
import pickle
import random
import string
import time
from typing import Any, Callable

from ferrostream import _native


def words(n: int) -> list[Any]:
    """Distinct string objects, as a tokenizer makes them (pickle cannot share repeats)."""
    rng = random.Random(7)
    vocab = ["".join(rng.choices(string.ascii_lowercase, k=rng.randint(2, 9))) for _ in range(5000)]
    return " ".join(rng.choice(vocab) for _ in range(n)).split(" ")


def pairs(n: int) -> list[Any]:
    return [(w, 1) for w in words(n)]


def lines(n: int) -> list[Any]:
    ws = words(n * 8)
    return [" ".join(ws[i : i + 8]) for i in range(0, len(ws), 8)]


def grouped(n: int) -> list[Any]:
    return [(w, [1, 1, 1]) for w in words(n)]


def best(f: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        f()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--records", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=10)
    args = ap.parse_args()
    print(f"{args.records} records per partition, best of {args.repeat}; times in ms")
    print(
        f"{'data':<8} {'wire enc':>9} {'wire dec':>9} {'pickle5 dump':>13} {'pickle5 load':>13} "
        f"{'wire B/rec':>10} {'pickle B/rec':>12}"
    )
    for name, make in (("words", words), ("pairs", pairs), ("lines", lines), ("groups", grouped)):
        data = make(args.records)
        wire = _native.encode_partition(data)
        pick = pickle.dumps(data, protocol=5)
        assert _native.decode_partition(wire) == data
        we = best(lambda d=data: _native.encode_partition(d), args.repeat) * 1e3
        wd = best(lambda w=wire: _native.decode_partition(w), args.repeat) * 1e3
        pd = best(lambda d=data: pickle.dumps(d, protocol=5), args.repeat) * 1e3
        pl = best(lambda p=pick: pickle.loads(p), args.repeat) * 1e3
        n = len(data)
        print(
            f"{name:<8} {we:9.2f} {wd:9.2f} {pd:13.2f} {pl:13.2f} "
            f"{len(wire) / n:10.1f} {len(pick) / n:12.1f}"
        )


if __name__ == "__main__":
    main()
