"""``stsAssumeRoleArn``/``stsSessionName``/``stsExternalId``: the receiver assumes the role
through STS with the given credentials, and reads Kinesis with the role's temporary ones.

The SDK's calls go through a small recording HTTP proxy (``endpointUrl`` for Kinesis,
``AWS_ENDPOINT_URL_STS`` for STS) in front of the
emulator (moto serves STS, Kinesis and DynamoDB), which notes each call's action and the
access key id that signed it."""

from __future__ import annotations

import re
import threading
from typing import Any
from urllib.parse import parse_qs

import pytest

from ferrostream import SparkContext
from ferrostream.errors import SparkException
from ferrostream.streaming import StreamingContext
from ferrostream.streaming.kinesis import InitialPositionInStream, KinesisUtils
from http_proxy import ForwardingProxy
from kinesis_emulator import ACCESS_KEY, SECRET_KEY, KinesisEmulator
from waiting import wait_until

pytestmark = pytest.mark.timeout(120)

ROLE = "arn:aws:iam::123456789012:role/ferrostream-reader"


class RecordingProxy:
    """Forwards every call to ``upstream``, noting ``(action, signing key id, form fields)``."""

    def __init__(self, upstream: str) -> None:
        self.calls: list[tuple[str, str, dict[str, list[str]]]] = []
        self.lock = threading.Lock()
        self.proxy = ForwardingProxy(upstream, self.note)
        self.endpoint = self.proxy.endpoint

    def note(self, headers: Any, body: bytes) -> None:
        key = re.search(r"Credential=([^/]+)/", headers.get("Authorization", ""))
        form: dict[str, list[str]] = {}
        action = headers.get("X-Amz-Target", "").rsplit(".", 1)[-1]
        if not action and body:
            form = parse_qs(body.decode("utf-8", "replace"))
            action = form.get("Action", [""])[0]
        with self.lock:
            self.calls.append((action, key.group(1) if key else "", form))

    def seen(self, action: str) -> list[tuple[str, str, dict[str, list[str]]]]:
        with self.lock:
            return [c for c in self.calls if c[0] == action]

    def close(self) -> None:
        self.proxy.close()


def test_the_receiver_reads_with_the_assumed_roles_credentials(
    kinesis: KinesisEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    stream = kinesis.new_stream(shards=1, prefix="sts")
    proxy = RecordingProxy(kinesis.endpoint)
    # As in Spark, endpointUrl is Kinesis's only: STS is found as the SDK finds it (here the
    # emulator, through the proxy, by the SDK's service-specific endpoint variable).
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", proxy.endpoint)
    sc = SparkContext("local[2]", "kinesis-sts")
    ssc = StreamingContext(sc, 0.2)
    got: list[str] = []
    try:
        KinesisUtils.createStream(
            ssc,
            "sts-" + stream,
            stream,
            proxy.endpoint,
            kinesis.region,
            InitialPositionInStream.TRIM_HORIZON,
            0.5,
            awsAccessKeyId=ACCESS_KEY,
            awsSecretKey=SECRET_KEY,
            stsAssumeRoleArn=ROLE,
            stsSessionName="ferrostream-test",
            stsExternalId="external-1",
        ).foreachRDD(lambda rdd: got.extend(rdd.collect()))
        ssc.start()
        kinesis.put(stream, ["one", "two", "three"])
        wait_until(lambda: sorted(got) == ["one", "three", "two"], "the records", timeout=60)
    finally:
        ssc.stop(stopSparkContext=True)
        proxy.close()
    assumed = proxy.seen("AssumeRole")
    assert assumed, f"no AssumeRole call; calls: {sorted({c[0] for c in proxy.calls})}"
    _, signer, form = assumed[0]
    assert signer == ACCESS_KEY  # the given credentials assume the role...
    assert form["RoleArn"] == [ROLE]
    assert form["RoleSessionName"] == ["ferrostream-test"]
    assert form["ExternalId"] == ["external-1"]
    reads = proxy.seen("GetRecords")
    assert reads, "no GetRecords call went through the endpoint"
    # ...and Kinesis is read with the role's temporary credentials, never the given ones.
    assert {signer for _, signer, _ in reads} - {ACCESS_KEY} == {s for _, s, _ in reads}


def test_no_credentials_anywhere_fails_start_saying_so(
    kinesis: KinesisEmulator, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    """Neither arguments nor the SDK's default chain (environment, profile files, web identity,
    instance metadata) give credentials: ``start()`` fails naming the problem."""
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("AWS_WEB_IDENTITY_TOKEN_FILE", raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    stream = kinesis.new_stream(shards=1, prefix="nocreds")
    sc = SparkContext("local[2]", "kinesis-no-credentials")
    ssc = StreamingContext(sc, 0.2)
    try:
        KinesisUtils.createStream(
            ssc,
            "nocreds-" + stream,
            stream,
            kinesis.endpoint,
            kinesis.region,
            InitialPositionInStream.TRIM_HORIZON,
            1,
        ).pprint()
        with pytest.raises(SparkException, match=rf"{stream}.*no credentials found"):
            ssc.start()
    finally:
        ssc.stop(stopSparkContext=True)
