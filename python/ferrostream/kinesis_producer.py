"""Write lines to a Kinesis stream: ``python -m ferrostream.kinesis_producer STREAM [FILE...]``.

A stand-in for the producers of Spark's Kinesis examples. Each line of the files (or of the
standard input) becomes one record (UTF-8), written in order with ``PutRecords`` (500 per call);
the partition key is the line's number, so the lines spread over the shards. ``--repeat N``
writes the input N times, ``--rate R`` at most R records per second. The client is boto3
(``pip install boto3``), with the AWS SDK's default credentials chain;
``--endpoint-url`` points it at an emulator.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator
from typing import Any, Optional

__all__ = ["main"]


def _lines(files: list[str]) -> Iterator[str]:
    if not files:
        for line in sys.stdin:
            yield line.rstrip("\n")
        return
    for name in files:
        with open(name, encoding="utf-8") as fh:
            for line in fh:
                yield line.rstrip("\n")


def _client(endpoint_url: Optional[str], region: str) -> Any:
    try:
        import boto3  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError:
        raise SystemExit("kinesis_producer needs boto3: pip install boto3") from None
    return boto3.client("kinesis", endpoint_url=endpoint_url, region_name=region)


def main(argv: Optional[list[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ferrostream.kinesis_producer")
    parser.add_argument("stream", help="the Kinesis stream to write to")
    parser.add_argument("files", nargs="*", help="files of lines (default: standard input)")
    parser.add_argument("--endpoint-url", default=None, help="Kinesis endpoint (emulators)")
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument("--repeat", type=int, default=1, help="write the input N times")
    parser.add_argument("--rate", type=float, default=0, help="records per second at most")
    args = parser.parse_args(argv)
    client = _client(args.endpoint_url, args.region)
    lines = list(_lines(args.files))
    start = time.monotonic()
    written = 0
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        nonlocal written, batch
        if not batch:
            return
        out = client.put_records(StreamName=args.stream, Records=batch)
        failed = out.get("FailedRecordCount", 0)
        if failed:
            raise SystemExit(f"{failed} records were not written: {out['Records'][:3]}")
        written += len(batch)
        batch = []
        if args.rate > 0:
            ahead = written / args.rate - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)

    for _ in range(args.repeat):
        for line in lines:
            batch.append({"Data": line.encode("utf-8"), "PartitionKey": str(written + len(batch))})
            if len(batch) == 500 or (args.rate > 0 and len(batch) >= max(1, int(args.rate / 10))):
                flush()
    flush()
    print(f"wrote {written} records to {args.stream}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
