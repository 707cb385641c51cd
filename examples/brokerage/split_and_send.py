"""Replay an orders file into a watched directory, a chunk at a time (the lecture's
``splitAndSend.sh``).

The file is split into chunks of --lines lines (10000) named like ``split``'s output
(``chunkaa``, ``chunkab``, ...). Every --pause seconds (3) the next chunk appears in the target
directory. Each chunk is written under a hidden name (``.chunkaa.tmp``, which
``textFileStream`` ignores) in the target directory and then renamed: the rename is atomic, so
the stream never sees a half-written file, and the file's modification time is the time it
appeared (a chunk written long before it is moved in would be older than the stream's
remember window and be skipped).

    python examples/brokerage/split_and_send.py input --orders-file orders.txt
"""

from __future__ import annotations

import argparse
import os
import string
import sys
import time
from collections.abc import Iterator


def chunk_names(count: int, prefix: str = "chunk") -> Iterator[str]:
    """``prefix`` + ``aa``, ``ab``, ..., with more letters when 676 names are not enough."""
    width = 2
    while 26**width < count:
        width += 1
    letters = string.ascii_lowercase
    for i in range(count):
        suffix = ""
        n = i
        for _ in range(width):
            n, r = divmod(n, 26)
            suffix = letters[r] + suffix
        yield prefix + suffix


def split_lines(lines: list[str], size: int) -> list[list[str]]:
    return [lines[i : i + size] for i in range(0, len(lines), size)]


def send(
    lines: list[str], target: str, size: int = 10_000, pause: float = 3.0, verbose: bool = True
) -> list[str]:
    """Move chunks of ``lines`` into ``target`` one by one; returns the chunk paths."""
    os.makedirs(target, exist_ok=True)
    chunks = split_lines(lines, size)
    paths = []
    for i, (name, chunk) in enumerate(zip(chunk_names(len(chunks)), chunks)):
        if i:
            time.sleep(pause)
        hidden = os.path.join(target, f".{name}.tmp")
        final = os.path.join(target, name)
        with open(hidden, "w", encoding="utf-8") as out:
            out.write("".join(line + "\n" for line in chunk))
        os.rename(hidden, final)
        paths.append(final)
        if verbose:
            print(f"sent {final} ({len(chunk)} lines)", flush=True)
    return paths


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Move chunks of an orders file into a directory.")
    p.add_argument("target", help="the directory the streaming program watches")
    p.add_argument("--orders-file", default="orders.txt", help="file to split (orders.txt)")
    p.add_argument("--lines", type=int, default=10_000, help="lines per chunk (10000)")
    p.add_argument("--pause", type=float, default=3.0, help="seconds between chunks (3)")
    args = p.parse_args(argv)
    if args.lines < 1 or args.pause < 0:
        p.error("--lines must be >= 1 and --pause >= 0")
    try:
        with open(args.orders_file, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as exc:
        print(f"cannot read {args.orders_file}: {exc}", file=sys.stderr)
        return 1
    send(lines, args.target, args.lines, args.pause)
    return 0


if __name__ == "__main__":
    sys.exit(main())
