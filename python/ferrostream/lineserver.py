"""A line server for examples and tests: what ``nc -lk 9999`` is in the Spark courses.

:class:`LineServer` listens on a TCP port (127.0.0.1 by default) and sends text lines to every
client that connects, optionally at a fixed rate and in a loop, from a background thread.
``python -m ferrostream.lineserver --port 9999 FILE`` serves a file's lines from the command
line; without a file it forwards what is typed on standard input, as ``nc -lk`` does.
"""

from __future__ import annotations

import argparse
import errno
import socket
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Optional

__all__ = ["LineServer"]


class LineServer:
    """Serve lines of text over TCP to every client that connects.

    Parameters
    ----------
    lines : iterable of str, optional
        The lines to send (without newlines). Each connection gets them from the start.
    host : str
        Address to bind; loopback by default.
    port : int
        Port to bind; 0 picks a free one (see :attr:`port`).
    rate : float, optional
        Lines per second per connection; as fast as possible when None.
    loop : bool
        Send the lines again and again until stopped.
    """

    def __init__(
        self,
        lines: Optional[Iterable[str]] = None,
        host: str = "127.0.0.1",
        port: int = 0,
        rate: Optional[float] = None,
        loop: bool = False,
    ) -> None:
        self._lines = list(lines) if lines is not None else []
        self._rate = rate
        self._loop = loop
        self._stop = threading.Event()
        self._sock = _listen(host, port)
        self._sock.settimeout(0.1)
        self.host = host
        self.port: int = self._sock.getsockname()[1]
        self._threads: list[threading.Thread] = []
        self._clients: list[socket.socket] = []
        self._lock = threading.Lock()
        self.sent = 0

    def start(self) -> LineServer:
        """Start accepting connections in a background thread; returns self."""
        t = threading.Thread(target=self._accept, name="ferrostream-lineserver", daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def stop(self) -> None:
        """Close the listening socket and every connection."""
        self._stop.set()
        with self._lock:
            clients = list(self._clients)
        for c in clients:
            try:
                c.close()
            except OSError:
                pass
        for t in self._threads:
            t.join(timeout=2)
        self._sock.close()

    def __enter__(self) -> LineServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                self._clients.append(conn)
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            t.start()
            self._threads.append(t)

    def _lines_to_send(self) -> Iterator[str]:
        while True:
            yield from self._lines
            if not self._loop or not self._lines:
                return

    def _serve(self, conn: socket.socket) -> None:
        interval = 1.0 / self._rate if self._rate else 0.0
        next_at = time.monotonic()
        try:
            if interval == 0.0 and not self._loop:
                data = "".join(line + "\n" for line in self._lines).encode("utf-8")
                conn.sendall(data)
                self.sent += len(self._lines)
            else:
                for line in self._lines_to_send():
                    if self._stop.is_set():
                        break
                    conn.sendall((line + "\n").encode("utf-8"))
                    self.sent += 1
                    if interval:
                        next_at += interval
                        delay = next_at - time.monotonic()
                        if delay > 0:
                            time.sleep(delay)
            # Keep the connection open (as nc does) until stopped.
            while not self._stop.wait(0.1):
                pass
        except OSError:
            pass
        finally:
            conn.close()


def _port_in_use_message(host: str, port: int) -> str:
    return (
        f"port {port} on {host} is already in use: another line server or `nc -lk {port}` "
        "is probably still running. Stop it (Ctrl+C in its terminal), or serve on another "
        f"port with --port N and give your streaming program that port instead of {port}."
    )


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``; a port in use says what to do about it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        if exc.errno == errno.EADDRINUSE:
            raise OSError(exc.errno, _port_in_use_message(host, port)) from None
        raise
    sock.listen(8)
    return sock


def main(argv: Optional[list[str]] = None) -> int:
    """Command-line entry point: ``python -m ferrostream.lineserver``."""
    p = argparse.ArgumentParser(description="Serve text lines over TCP (like `nc -lk PORT`).")
    p.add_argument("file", nargs="?", help="file whose lines to send (default: standard input)")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9999)
    p.add_argument("--rate", type=float, default=None, help="lines per second")
    p.add_argument("--loop", action="store_true", help="repeat the file forever")
    args = p.parse_args(argv)
    try:
        return _serve(args)
    except OSError as exc:
        if exc.errno != errno.EADDRINUSE:
            raise
        print(f"lineserver: {exc.strerror}", file=sys.stderr)
        return 2


def _serve(args: argparse.Namespace) -> int:
    if args.file:
        with open(args.file, encoding="utf-8") as f:
            lines = f.read().splitlines()
        server = LineServer(lines, args.host, args.port, args.rate, args.loop).start()
        print(f"serving {len(lines)} lines on {args.host}:{server.port}", file=sys.stderr)
        try:
            while True:
                time.sleep(1)
        except KeyboardInterrupt:
            server.stop()
        return 0
    return _forward_stdin(args.host, args.port)


def _forward_stdin(host: str, port: int) -> int:
    """Send each line typed on standard input to every connected client."""
    srv = _listen(host, port)
    clients: list[socket.socket] = []

    def accept() -> None:
        while True:
            try:
                clients.append(srv.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    print(f"type lines to send to clients of {host}:{port}", file=sys.stderr)
    try:
        for line in sys.stdin:
            for c in list(clients):
                try:
                    c.sendall(line.encode("utf-8"))
                except OSError:
                    clients.remove(c)
    except KeyboardInterrupt:
        pass
    srv.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
