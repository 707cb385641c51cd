"""The lecture's brokerage pipeline: orders arrive as files in a directory.

    python examples/brokerage/generate_orders.py --out orders.txt
    ferrostream-submit examples/brokerage/brokerage.py input output/output
    python examples/brokerage/split_and_send.py input --orders-file orders.txt   # elsewhere

Every batch (3 s by default) the program reads the order files that appeared in the input
directory (see generate_orders.py for the line layout) and writes, with ``saveAsTextFiles``,
a directory ``<output prefix>-<batch time in ms>.txt`` whose ``part-00000`` holds:

* ``('BUYS', ['<n>'])`` and ``('SELLS', ['<n>'])``: the number of buy and sell orders of the
  batch (a line only when there were such orders);
* ``('TOP5CLIENTS', [ids])``: the five clients with the highest total order value
  (stocks x price) since the start, highest first, kept with ``updateStateByKey``;
* ``('TOP5STOCKS', [symbols])``: the five most traded stocks (number of stocks) over the last
  hour (a window; the optional fifth argument sets its length in seconds).

Badly formatted lines are reported and skipped. Arguments after the output prefix are
optional: the checkpoint directory (``checkpoint``), the batch interval and the window length
in seconds (3 and 3600; the window must be a multiple of the batch interval).
"""

import sys
from datetime import datetime
from operator import add

from pyspark import SparkContext
from pyspark.streaming import StreamingContext


def parse_order(line):
    """[order] for a well-formed line, [] (with a message) otherwise."""
    fields = line.split(",")
    try:
        if len(fields) != 7 or fields[6] not in ("B", "S"):
            raise ValueError("expected 7 fields ending in B or S")
        return [
            {
                "time": datetime.strptime(fields[0], "%Y-%m-%d %H:%M:%S"),
                "orderId": int(fields[1]),
                "clientId": int(fields[2]),
                "symbol": fields[3],
                "amount": int(fields[4]),
                "price": float(fields[5]),
                "buy": fields[6] == "B",
            }
        ]
    except ValueError:
        print(f"Wrong line format ({line})")
        return []


def running_total(values, total):
    return sum(values) + (total or 0)


def top5(rdd):
    """The keys of the five largest values of a pair RDD, as one-partition RDD, largest first."""
    return (
        rdd.sortBy(lambda kv: kv[1], False)
        .map(lambda kv: kv[0])
        .zipWithIndex()
        .filter(lambda key_rank: key_rank[1] < 5)
        .sortBy(lambda key_rank: key_rank[1], numPartitions=1)
    )


if __name__ == "__main__":
    if not 3 <= len(sys.argv) <= 6:
        print(
            "Usage: brokerage.py <input directory> <output prefix> [<checkpoint directory> "
            "[<batch seconds> [<window seconds>]]]",
            file=sys.stderr,
        )
        sys.exit(-1)
    input_dir, output_prefix = sys.argv[1], sys.argv[2]
    checkpoint_dir = sys.argv[3] if len(sys.argv) > 3 else "checkpoint"
    batch_seconds = float(sys.argv[4]) if len(sys.argv) > 4 else 3
    window_seconds = float(sys.argv[5]) if len(sys.argv) > 5 else 60 * 60

    sc = SparkContext(appName="Brokerage")
    ssc = StreamingContext(sc, batch_seconds)
    ssc.checkpoint(checkpoint_dir)

    orders = ssc.textFileStream(input_dir).flatMap(parse_order)

    # Buys and sells of this batch.
    per_type = orders.map(lambda o: (o["buy"], 1)).reduceByKey(add)
    buys_sells = per_type.map(lambda t: ("BUYS" if t[0] else "SELLS", [str(t[1])]))

    # Top clients by the value of all their orders so far.
    client_values = orders.map(lambda o: (o["clientId"], o["amount"] * o["price"]))
    client_totals = client_values.updateStateByKey(running_total)
    top_clients = (
        client_totals.transform(top5)
        .map(lambda key_rank: str(key_rank[0]))
        .glom()
        .map(lambda ids: ("TOP5CLIENTS", ids))
    )

    # Top stocks by number of stocks traded over the window.
    stock_amounts = orders.map(lambda o: (o["symbol"], o["amount"])).window(window_seconds)
    top_stocks = (
        stock_amounts.reduceByKey(add)
        .transform(top5)
        .map(lambda key_rank: str(key_rank[0]))
        .glom()
        .map(lambda symbols: ("TOP5STOCKS", symbols))
    )

    report = buys_sells.union(top_clients).union(top_stocks)
    report.repartition(1).saveAsTextFiles(output_prefix, "txt")

    ssc.start()
    ssc.awaitTermination()
