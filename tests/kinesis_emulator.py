"""A Kinesis (and DynamoDB) emulator for tests: moto's server, started by
``scripts/kinesis.sh`` on 127.0.0.1 and stopped by the PID the script recorded.

boto3 is only the tests' client (creating streams, producing, reading the lease table); what is
tested reads Kinesis through ferrostream's own engine (the AWS SDK for Rust).
"""

from __future__ import annotations

import atexit
import subprocess
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Optional

from waiting import wait_until

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "kinesis.sh"
# The first start installs moto into its cached venv (about a minute); later starts take ~1 s.
START_TIMEOUT = 300.0
REGION = "us-east-1"
#: Credentials the emulator accepts (any work); never real ones.
ACCESS_KEY = "testing-key"
SECRET_KEY = "testing-secret"


class EmulatorError(RuntimeError):
    """The emulator could not be started or did not do what a test asked."""


class KinesisEmulator:
    """One moto server on 127.0.0.1 serving Kinesis and DynamoDB at ``endpoint``."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = Path(state_dir)
        self.endpoint = ""
        self.region = REGION
        self._running = False
        atexit.register(self.close)

    def start(self) -> None:
        try:
            out = subprocess.run(
                ["bash", str(SCRIPT), "start", str(self.state_dir)],
                capture_output=True,
                text=True,
                timeout=START_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired as e:
            raise EmulatorError(
                f"scripts/kinesis.sh start timed out after {START_TIMEOUT} s"
            ) from e
        if out.returncode != 0:
            raise EmulatorError(f"scripts/kinesis.sh start failed:\n{out.stderr}")
        for line in out.stdout.splitlines():
            if line.startswith("endpoint="):
                self.endpoint = line.split("=", 1)[1]
        if not self.endpoint:
            raise EmulatorError(f"scripts/kinesis.sh printed no endpoint:\n{out.stdout}")
        self._running = True

    def close(self) -> None:
        if self._running:
            self._running = False
            subprocess.run(
                ["bash", str(SCRIPT), "stop", str(self.state_dir)],
                capture_output=True,
                timeout=60,
                check=False,
            )

    # --- the tests' client ---------------------------------------------------------------------

    def client(self, service: str) -> Any:
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.endpoint,
            region_name=self.region,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )

    def new_stream(self, shards: int = 1, prefix: str = "s") -> str:
        """A new stream of ``shards`` shards, active."""
        name = f"{prefix}-{uuid.uuid4().hex[:10]}"
        kinesis = self.client("kinesis")
        kinesis.create_stream(StreamName=name, ShardCount=shards)
        wait_until(
            lambda: (
                kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"][
                    "StreamStatus"
                ]
                == "ACTIVE"
            ),
            f"stream {name} active",
        )
        return name

    def shard_ids(self, stream: str) -> list[str]:
        shards = self.client("kinesis").list_shards(StreamName=stream)["Shards"]
        return [s["ShardId"] for s in shards]

    def put(
        self,
        stream: str,
        records: Iterable[str | bytes],
        key: Optional[str] = None,
        shard_keys: Optional[Iterable[str]] = None,
    ) -> None:
        """Write ``records`` in order (500 per call), partition key ``key`` (or each record's
        own key from ``shard_keys``; by default the record itself)."""
        kinesis = self.client("kinesis")
        items = list(records)
        keys = list(shard_keys) if shard_keys is not None else None
        entries = []
        for i, r in enumerate(items):
            data = r.encode() if isinstance(r, str) else r
            pk = keys[i] if keys is not None else (key if key is not None else str(i))
            entries.append({"Data": data, "PartitionKey": pk})
        for i in range(0, len(entries), 500):
            out = kinesis.put_records(StreamName=stream, Records=entries[i : i + 500])
            if out.get("FailedRecordCount"):
                raise EmulatorError(f"put_records failed: {out}")

    def checkpoints(self, app: str) -> dict[str, str]:
        """The lease table ``app``: shard id -> checkpoint ({} when the table is missing)."""
        dynamo = self.client("dynamodb")
        try:
            items = dynamo.scan(TableName=app, ConsistentRead=True)["Items"]
        except dynamo.exceptions.ResourceNotFoundException:
            return {}
        return {i["leaseKey"]["S"]: i["checkpoint"]["S"] for i in items if "checkpoint" in i}


def start_emulator(state_dir: Path) -> KinesisEmulator:
    emulator = KinesisEmulator(state_dir)
    emulator.start()
    return emulator
