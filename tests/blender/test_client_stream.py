"""The client's event stream over real chunked HTTP: events split across chunks, several in one chunk."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

from blender_in2n import client

EVENTS = [
    (1, "state", '{"state": "running", "phase": "base", "message": "training"}'),
    (2, "progress", '{"phase": "base", "step": 5, "total_steps": 10, "progress": 0.5}'),
    (3, "edit", '{"image_index": 2, "edits_done": 1, "url": "/v1/jobs/j/images/2"}'),
    (4, "done", '{"state": "completed"}'),
]


def _stream() -> bytes:
    text = ": ping\n\n" + "".join(f"id: {i}\nevent: {kind}\ndata: {data}\n\n" for i, kind, data in EVENTS)
    return text.encode()


def _chunkings(body: bytes) -> dict[str, list[bytes]]:
    return {
        # an event's lines, and even a line, cut across chunk boundaries
        "tiny_chunks": [body[i : i + 7] for i in range(0, len(body), 7)],
        # every event in one chunk
        "one_chunk": [body],
        # chunk borders inside the "\n\n" that ends an event
        "split_terminators": [
            piece for part in body.split(b"\n\n") if part for piece in (part + b"\n", b"\n")
        ],
    }


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    chunks: list[bytes] = []

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for chunk in self.chunks:
            if chunk:
                self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def chunked_server() -> Iterator[tuple[http.server.ThreadingHTTPServer, type[_Handler]]]:
    handler = type("Handler", (_Handler,), {"chunks": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, handler
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("chunking", ["tiny_chunks", "one_chunk", "split_terminators"])
def test_events_are_parsed_whatever_the_chunking(chunked_server, chunking: str) -> None:
    server, handler = chunked_server
    body = _stream()
    handler.chunks = _chunkings(body)[chunking]
    assert b"".join(handler.chunks) == body
    c = client.Client("127.0.0.1", server.server_address[1])
    events = list(c.events("j"))
    assert [(e.id, e.kind) for e in events] == [(i, kind) for i, kind, _ in EVENTS]
    assert events[1].data["step"] == 5 and events[2].data["image_index"] == 2
    assert events[3].data == {"state": "completed"}
