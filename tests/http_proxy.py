"""A forwarding HTTP proxy on 127.0.0.1 for tests that watch or disturb what a client sends to
an emulator: every POST goes to ``upstream`` unless ``intercept`` answers it itself."""

from __future__ import annotations

import http.client
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional, Union
from urllib.parse import urlsplit


@dataclass
class Answer:
    """A response the proxy gives instead of forwarding."""

    status: int
    headers: dict[str, str]
    body: bytes


#: Close the connection without answering.
DROP = "drop"

Intercept = Callable[[Any, bytes], Optional[Union[Answer, str]]]


class ForwardingProxy:
    """Forwards POSTs to ``upstream``. ``intercept(headers, body)`` sees each request first and
    may return an :class:`Answer`, :data:`DROP`, or None to forward it. ``endpoint`` is the
    proxy's URL; ``close()`` stops it."""

    def __init__(self, upstream: str, intercept: Intercept) -> None:
        target = urlsplit(upstream)

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                answer = intercept(self.headers, body)
                if answer == DROP:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                if not isinstance(answer, Answer):
                    answer = self.forward(body)
                self.send_response(answer.status)
                for k, v in answer.headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def forward(self, body: bytes) -> Answer:
                conn = http.client.HTTPConnection(target.hostname, target.port, timeout=30)
                try:
                    headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                    conn.request("POST", self.path, body=body, headers=headers)
                    response = conn.getresponse()
                    data = response.read()
                finally:
                    conn.close()
                skip = ("content-length", "transfer-encoding", "connection")
                kept = {k: v for k, v in response.getheaders() if k.lower() not in skip}
                return Answer(response.status, kept, data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
