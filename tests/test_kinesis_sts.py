"""``stsAssumeRoleArn``/``stsSessionName``/``stsExternalId``: the receiver assumes the role
through STS with the given credentials, and reads Kinesis with the role's temporary ones.

The SDK's calls go through a small recording HTTP proxy (``endpointUrl`` for Kinesis,
``AWS_ENDPOINT_URL_STS`` for STS) in front of the
emulator (moto serves STS, Kinesis and DynamoDB), which notes each call's action and the
access key id that signed it."""

from __future__ import annotations

import http.client
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from ferrostream import SparkContext
from ferrostream.errors import SparkException
from ferrostream.streaming import StreamingContext
from ferrostream.streaming.kinesis import InitialPositionInStream, KinesisUtils
from kinesis_emulator import ACCESS_KEY, SECRET_KEY, KinesisEmulator
from waiting import wait_until

pytestmark = pytest.mark.timeout(120)

ROLE = "arn:aws:iam::123456789012:role/ferrostream-reader"


class RecordingProxy:
    """Forwards every call to ``upstream``, noting ``(action, signing key id, form fields)``."""

    def __init__(self, upstream: str) -> None:
        target = urlsplit(upstream)
        self.calls: list[tuple[str, str, dict[str, list[str]]]] = []
        self.lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                key = re.search(r"Credential=([^/]+)/", self.headers.get("Authorization", ""))
                form: dict[str, list[str]] = {}
                action = self.headers.get("X-Amz-Target", "").rsplit(".", 1)[-1]
                if not action and body:
                    form = parse_qs(body.decode("utf-8", "replace"))
                    action = form.get("Action", [""])[0]
                with proxy.lock:
                    proxy.calls.append((action, key.group(1) if key else "", form))
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                    conn.request("POST", self.path, body=body, headers=headers)
                    answer = conn.getresponse()
                    data = answer.read()
                finally:
                    conn.close()
                self.send_response(answer.status)
                for k, v in answer.getheaders():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def seen(self, action: str) -> list[tuple[str, str, dict[str, list[str]]]]:
        with self.lock:
            return [c for c in self.calls if c[0] == action]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


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
