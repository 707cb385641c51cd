"""Produce generated JSON tweets to a Kafka topic (default ``twitter``), for the
``kafka_tweets.ipynb`` notebook: the shape its cells read (``user.screen_name``, ``text`` with
words and hashtags), a fixed number per second, reproducible with ``--seed``.

    python notebooks/tweet_producer.py --bootstrap 127.0.0.1:9092 --rate 20 --seconds 60

Needs ``confluent-kafka`` (a test dependency of ferrostream).
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time

AUTHORS = [
    "rmoff", "rmoff_bot", "AnnaSabryan", "KHALILSAFADO", "socialvidpress", "SabSad_",
    "CooleeBravo", "datapunk", "streamwatcher", "kafka_fan", "jupyter_jo", "lambda_lou",
]  # fmt: skip
WORDS = (
    "spark streaming kafka data pipeline python window batch count tweet stream "
    "real time analytics event broker topic offset lag the a of to and"
).split()
HASHTAGS = ["#kafka", "#spark", "#python", "#bigdata", "#streaming", "#jupyter"]


def tweet(rng: random.Random, n: int) -> dict[str, object]:
    # A few authors tweet a lot, most rarely (counts per author differ).
    author = AUTHORS[min(int(rng.expovariate(0.45)), len(AUTHORS) - 1)]
    words = [rng.choice(WORDS) for _ in range(rng.randint(4, 12))]
    words += rng.sample(HASHTAGS, rng.randint(0, 2))
    return {
        "id": n,
        "created_at": time.strftime("%a %b %d %H:%M:%S +0000 %Y", time.gmtime()),
        "user": {"screen_name": author},
        "text": " ".join(words),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bootstrap", required=True, help="host:port of a Kafka broker")
    ap.add_argument("--topic", default="twitter")
    ap.add_argument("--rate", type=float, default=20.0, help="tweets per second")
    ap.add_argument("--seconds", type=float, default=60.0, help="how long to produce")
    ap.add_argument("--seed", type=int, default=4)
    args = ap.parse_args(argv)

    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": args.bootstrap, "linger.ms": 5})
    rng = random.Random(args.seed)
    start = time.monotonic()
    n = 0
    while time.monotonic() - start < args.seconds:
        due = start + n / args.rate
        while (pause := due - time.monotonic()) > 0:
            producer.poll(pause)  # serves delivery reports; may return early
        producer.produce(args.topic, value=json.dumps(tweet(rng, n)).encode())
        n += 1
    left = producer.flush(30)
    print(f"produced {n - left} tweets to {args.topic}", file=sys.stderr)
    return 0 if left == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
