"""Write a file of made-up brokerage orders in the lecture's ``orders.txt`` layout.

Each line is one order, comma separated::

    2016-03-22 20:25:28,1,80,EPE,710,51,B
    <time>,<order id>,<client id>,<stock symbol>,<number of stocks>,<price>,<B or S>

Order ids count up from 1, times move forward a second every few orders, clients are numbered
1..--clients, and the stock symbols are drawn, with uneven popularity, from a fixed made-up
list. Prices are whole numbers so that order values add up exactly. The same --seed always
gives the same file.

    python examples/brokerage/generate_orders.py --orders 500000 --out orders.txt
"""

from __future__ import annotations

import argparse
import random
import sys
from datetime import datetime, timedelta

SYMBOLS = [
    "ABX", "BRQ", "CAVN", "DLT", "EPX", "FNDR", "GLOB", "HVX", "IRN", "JOLT",
    "KPR", "LUMA", "MRX", "NOVA", "OPL", "PQR", "QUIL", "RSTK", "SOL", "TRV",
    "UMB", "VAL", "WZD", "XEN", "YLD", "ZNT", "AQUA", "BOLT", "CRUX", "DUNE",
]  # fmt: skip

START = datetime(2016, 3, 22, 20, 25, 0)


def order_lines(
    count: int, clients: int = 100, seed: int = 63, start: datetime = START
) -> list[str]:
    """``count`` order lines (without newlines)."""
    rng = random.Random(seed)
    weights = [1.0 / (rank + 1) for rank in range(len(SYMBOLS))]
    symbols = rng.choices(SYMBOLS, weights=weights, k=count)
    when = start
    lines = []
    for order_id in range(1, count + 1):
        if rng.random() < 0.3:
            when += timedelta(seconds=1)
        line = ",".join(
            [
                when.strftime("%Y-%m-%d %H:%M:%S"),
                str(order_id),
                str(rng.randint(1, clients)),
                symbols[order_id - 1],
                str(rng.randint(1, 1000)),
                str(rng.randint(1, 100)),
                rng.choice("BS"),
            ]
        )
        lines.append(line)
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Generate an orders.txt of made-up orders.")
    p.add_argument("--orders", type=int, default=500_000, help="number of orders (500000)")
    p.add_argument("--clients", type=int, default=100, help="number of clients (100)")
    p.add_argument("--seed", type=int, default=63, help="random seed (63)")
    p.add_argument("--out", default="orders.txt", help="file to write (orders.txt)")
    args = p.parse_args(argv)
    if args.orders < 0 or args.clients < 1:
        p.error("--orders must be >= 0 and --clients >= 1")
    lines = order_lines(args.orders, args.clients, args.seed)
    with open(args.out, "w", encoding="utf-8") as out:
        out.write("".join(line + "\n" for line in lines))
    print(f"wrote {len(lines)} orders to {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
