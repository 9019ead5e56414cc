"""A local HTTP server (127.0.0.1) serving in-memory files, with Range support (``a-`` and ``a-b``), cuts and a log."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class ServerState:
    files: dict[str, bytes] = field(default_factory=dict)
    cut_next: dict[str, list[int]] = field(default_factory=dict)  # path -> bytes to send per request
    ignore_range: bool = False
    log: list[tuple[str, str | None, int, int]] = field(default_factory=list)  # path, Range, status, sent


class _Handler(BaseHTTPRequestHandler):
    state: ServerState

    def log_message(self, format: str, *args: object) -> None:  # silence stderr
        pass

    def do_GET(self) -> None:
        state = self.server.state  # type: ignore[attr-defined]
        data = state.files.get(self.path)
        rng = self.headers.get("Range")
        if data is None:
            state.log.append((self.path, rng, 404, 0))
            self.send_error(404, "Not Found")
            return
        start, stop, status = 0, len(data), 200
        if rng and not state.ignore_range:
            match = re.fullmatch(r"bytes=(\d+)-(\d*)", rng)
            start = int(match.group(1))
            stop = min(len(data), int(match.group(2)) + 1) if match.group(2) else len(data)
            if start >= len(data):
                state.log.append((self.path, rng, 416, 0))
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status = 206
        body = data[start:stop]
        self.send_response(status)
        if status == 206:
            self.send_header("Content-Range", f"bytes {start}-{stop - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cuts = state.cut_next.get(self.path)
        if cuts:
            body = body[: cuts.pop(0)]
            self.close_connection = True
        state.log.append((self.path, rng, status, len(body)))  # before writing: the client may finish first
        self.wfile.write(body)
        self.wfile.flush()


@contextmanager
def serve(state: ServerState) -> Iterator[str]:
    """Serve ``state.files`` (URL path -> bytes) on a free port; yields the base URL."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.state = state  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
