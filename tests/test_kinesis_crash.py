"""Crash recovery on Kinesis, end to end, against the emulator (moto).

A running-count job (``updateStateByKey`` over a Kinesis receiver stream, a checkpoint
directory, ``StreamingContext.getOrCreate``) is killed with SIGKILL at random moments while the
test keeps writing numbered records, and restarted each time. The receiver promises
at-least-once (positions reach the DynamoDB lease table only for completed batches): at the
end every written record has been seen by some run and is counted in the final state at least
once; none is skipped.

The job is this file run as a script, so its functions live in ``__main__`` and are pickled by
value into the checkpoint, as a user's program is. Its credentials come from the environment
(the SDK's default chain), as a deployed program's would.
"""

from __future__ import annotations

import json
import os
import random
import sys
from collections import Counter
from pathlib import Path
from typing import Any, Optional

import pytest

from kinesis_emulator import ACCESS_KEY, SECRET_KEY, KinesisEmulator
from script_jobs import Job, run_and_kill
from waiting import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

BATCH_SECONDS = 0.25
KILLS = 12
SEED = 20261205


# ------------------------------------------------------------------------------------------
# the job


def run_job(
    endpoint: str, region: str, stream: str, app: str, checkpoint_dir: str, out_dir: str
) -> None:
    import logging

    from ferrostream import SparkConf, SparkContext
    from ferrostream.streaming import StreamingContext
    from ferrostream.streaming.kinesis import (
        FAILOVER_CONF,
        InitialPositionInStream,
        KinesisUtils,
    )

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    conf = SparkConf().setMaster("local[2]").setAppName("kinesis-crash")
    # A killed run's leases are taken over by the next run after this long (10 s by default).
    conf.set(FAILOVER_CONF, "1000")
    sc = SparkContext.getOrCreate(conf)
    seen = os.path.join(out_dir, f"seen-{os.getpid()}.txt")
    state_file = os.path.join(out_dir, "state.json")

    def append(rdd: Any) -> None:
        values = rdd.collect()
        if values:
            with open(seen, "a") as fh:
                fh.write("".join(v + "\n" for v in values))
                fh.flush()
                os.fsync(fh.fileno())

    def save(rdd: Any) -> None:
        tmp = state_file + f".{os.getpid()}.tmp"
        with open(tmp, "w") as fh:
            json.dump(dict(rdd.collect()), fh)
        os.replace(tmp, state_file)

    def update(values: list[int], state: Optional[int]) -> int:
        return sum(values) + (state or 0)

    def setup() -> StreamingContext:
        print("SETUP", flush=True)
        ssc = StreamingContext(sc, BATCH_SECONDS)
        ssc.checkpoint(checkpoint_dir)
        records = KinesisUtils.createStream(
            ssc, app, stream, endpoint, region, InitialPositionInStream.TRIM_HORIZON, 0.5
        )
        records.foreachRDD(append)
        records.map(lambda r: (r, 1)).updateStateByKey(update).foreachRDD(save)
        return ssc

    ssc = StreamingContext.getOrCreate(checkpoint_dir, setup)
    ssc.start()
    print("STARTED", flush=True)
    ssc.awaitTermination()


# ------------------------------------------------------------------------------------------
# the test


def test_receiver_loses_nothing_across_sigkills(
    kinesis: KinesisEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = random.Random(SEED)
    stream = kinesis.new_stream(shards=2, prefix="crash")
    app = "crash-" + stream
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    written: list[str] = []
    # The jobs' credentials: the SDK's default chain (environment variables).
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", ACCESS_KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET_KEY)

    def produce() -> None:
        batch = [f"r{len(written) + i:06d}" for i in range(rng.randint(1, 30))]
        kinesis.put(stream, batch)
        written.extend(batch)

    def make_job(run: int) -> Job:
        return Job(
            tmp_path / f"job-{run}.log",
            __file__,
            kinesis.endpoint,
            kinesis.region,
            stream,
            app,
            str(tmp_path / "checkpoint"),
            str(out_dir),
        )

    jobs = run_and_kill(
        make_job, produce, rng, KILLS, early=(0.3, 1.0), late=(1.2, 2.8), pause=(0.02, 0.2)
    )
    final = make_job(KILLS)
    jobs.append(final)

    def seen() -> Counter[str]:
        out: Counter[str] = Counter()
        for f in out_dir.glob("seen-*.txt"):
            out.update(f.read_text().split())
        return out

    def state() -> dict[str, int]:
        try:
            counts: dict[str, int] = json.loads((out_dir / "state.json").read_text())
            return counts
        except (OSError, ValueError):
            return {}

    try:
        wait_until(
            lambda: all(seen()[r] >= 1 for r in written),
            "every written record to be received by some run",
            timeout=120,
            details=lambda: (
                f"missing {len([r for r in written if not seen()[r]])} of {len(written)}\n"
                f"{final.text()[-3000:]}"
            ),
        )
        wait_until(
            lambda: all(state().get(r, 0) >= 1 for r in written),
            "the final state to count every written record",
            timeout=60,
        )
    finally:
        final.kill()
    assert len(written) > 100
    assert set(state()) == set(written), "nothing counted that was never written"
    recovered = sum("Restored the StreamingContext" in j.text() for j in jobs)
    # Early kills come before the first checkpoint: not every restart has one to recover.
    assert recovered >= KILLS // 3, "restarts recovered from the checkpoint"


if __name__ == "__main__":
    run_job(*sys.argv[1:7])
