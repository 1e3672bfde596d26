"""The part of the kubelet API the API server calls: ``GET /containerLogs/{ns}/{pod}/{c}``.

One HTTPS server per fake node on 127.0.0.1. It requires a client certificate signed by
the cluster CA (the API server presents its kubelet client certificate), so other local
users cannot read pod logs.
"""

from __future__ import annotations

import datetime
import logging
import socket
import ssl
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .certs import ClusterPki
from .container_logs import ContainerLog, LogQuery, stream, timestamp

log = logging.getLogger("kubelet-api")
CHUNK_BYTES = 64 * 1024


class LogNotFoundError(LookupError):
    """No log for that container; ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


# (namespace, pod, container, previous) → (log file, live log or None once finished)
LogFinder = Callable[[str, str, str, bool], tuple[Path, ContainerLog | None]]


def parse_query(query: str) -> LogQuery:
    """The kubelet's query parameters → LogQuery; raises ValueError naming a bad one."""
    params = {k: v[-1] for k, v in parse_qs(query).items()}

    def flag(name: str) -> bool:
        return params.get(name, "false").lower() in ("true", "1")

    def integer(name: str) -> int | None:
        if name not in params:
            return None
        try:
            value = int(params[name])
        except ValueError:
            raise ValueError(f"{name}={params[name]!r} is not an integer") from None
        if value < 0:
            raise ValueError(f"{name}={value} must not be negative")
        return value

    since_time = None
    if "sinceTime" in params:
        try:
            moment = datetime.datetime.fromisoformat(params["sinceTime"].replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"sinceTime={params['sinceTime']!r} is not RFC 3339") from None
        since_time = timestamp(moment)
    seconds = integer("sinceSeconds")
    if seconds is not None:
        since_time = timestamp(
            datetime.datetime.now(datetime.UTC) - datetime.timedelta(seconds=seconds)
        )
    return LogQuery(
        follow=flag("follow"),
        tail_lines=integer("tailLines"),
        limit_bytes=integer("limitBytes"),
        timestamps=flag("timestamps"),
        since_time=since_time,
    )


class _ChunkedBody:
    """An HTTP/1.1 chunked response body, written in chunks of up to CHUNK_BYTES (a log
    is written line by line: one TLS record and syscall per line would be slow)."""

    def __init__(self, out: Any) -> None:
        self.out = out
        self.buffer = bytearray()

    def write(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) >= CHUNK_BYTES:
            self.flush()

    def flush(self) -> None:
        if self.buffer:
            self.out.write(b"%x\r\n%s\r\n" % (len(self.buffer), self.buffer))
            self.buffer.clear()

    def close(self) -> None:
        """The last chunk and the end of the body, in one write."""
        last = b"%x\r\n%s\r\n" % (len(self.buffer), self.buffer) if self.buffer else b""
        self.out.write(last + b"0\r\n\r\n")
        self.buffer.clear()


class _Handler(BaseHTTPRequestHandler):
    server: KubeletServer
    # Keep-alive, as a kubelet: the API server reuses its connection to the node for the
    # next log request instead of a new TCP connection and TLS handshake each time.
    protocol_version = "HTTP/1.1"
    timeout = 300  # seconds an idle kept-alive connection (and its thread) may wait

    def setup(self) -> None:
        # No Nagle delay (Go servers, the kubelet too, set this): the headers and the body
        # are separate writes, and the second would wait for the client's delayed ACK.
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        # The TLS handshake runs here, in the request's thread, not in the accept loop.
        self.request.do_handshake()
        super().setup()

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s " + format, self.address_string(), *args)

    def _answer(self, status: int, text: str) -> None:
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        if url.path == "/healthz":
            self._answer(200, "ok")
            return
        if len(parts) != 4 or parts[0] != "containerLogs":
            self._answer(404, f"{url.path}: the local node agent serves only /containerLogs")
            return
        _, namespace, pod, container = parts
        try:
            query = parse_query(url.query)
            previous = parse_qs(url.query).get("previous", ["false"])[-1].lower() == "true"
            path, live = self.server.find_log(namespace, pod, container, previous)
        except ValueError as e:
            self._answer(400, str(e))
            return
        except LogNotFoundError as e:
            self._answer(e.status, e.message)
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        body = _ChunkedBody(self.wfile)
        try:
            stream(path, live, query, body.write, body.flush)
            body.close()
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            # The client went away mid-stream (e.g. `kubectl logs -f` interrupted).
            self.close_connection = True


class KubeletServer(ThreadingHTTPServer):
    """HTTPS kubelet API for one node, on 127.0.0.1 at ``port`` (0: any free port)."""

    daemon_threads = True

    def __init__(self, pki: ClusterPki, find_log: LogFinder, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.find_log = find_log
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(str(pki.kubelet_serving.cert), str(pki.kubelet_serving.key))
        context.load_verify_locations(str(pki.ca.cert))
        context.verify_mode = ssl.CERT_REQUIRED
        self.socket = context.wrap_socket(
            self.socket, server_side=True, do_handshake_on_connect=False
        )

    def handle_error(self, request: object, client_address: Any) -> None:
        # One line, not a traceback: e.g. a client without a certificate of the cluster CA.
        log.warning("kubelet API: request from %s failed: %s", client_address, sys.exc_info()[1])

    @property
    def port(self) -> int:
        port: int = self.server_address[1]
        return port

    def start(self) -> None:
        """Serves in a daemon thread."""
        threading.Thread(
            target=self.serve_forever, name=f"kubelet-{self.port}", daemon=True
        ).start()
