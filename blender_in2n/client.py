"""HTTP client for in2n-server (docs/protocol.md), standard library only.

Blender ships no HTTP library beyond Python's own, and extensions carry no wheels, so requests, multipart
bodies and the Server-Sent Events stream are written here with `http.client`. Nothing in this module imports
bpy: it runs on the worker thread and in plain-Python tests.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import json
import os
import re
import socket
import threading
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from .protocol import wire

DEFAULT_TIMEOUT = 30.0
# Pings come every 15 s; a stream silent for longer than this is treated as lost and reconnected.
STREAM_TIMEOUT = 40.0
EXPORT_TIMEOUT = 3600.0
"""An export renders the NeRF at every training camera and, for splats, refines them: minutes on a GPU
server, and on a CPU server a refined 200k-splat export took over ten minutes (docs/server.md)."""


class ClientError(Exception):
    """Base of everything this client raises; `str()` is a message fit for an artist."""


class ServerUnreachableError(ClientError):
    """The server could not be reached (not running, restarted, wrong address)."""


class AddressNotAllowedError(ClientError):
    """A non-loopback server while Blender's online access is off."""


class ServerError(ClientError):
    """The server answered with an error body: carries its `code` and `message`."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(f"{message} ({code}, HTTP {status})")
        self.status = status
        self.code = code
        self.message = message
        self.field = field


@dataclass(frozen=True)
class Event:
    """One Server-Sent Event of a job: `id` is the job's sequence number, `kind` one of wire.EVENT_KINDS."""

    id: int
    kind: str
    data: dict[str, Any]


@dataclass(frozen=True)
class FilePart:
    """A file in a multipart upload."""

    field: str
    filename: str
    data: bytes
    content_type: str = "image/png"


def is_loopback(host: str) -> bool:
    """True for 127.0.0.0/8, ::1 and `localhost`: the addresses that never leave this machine."""
    name = host.strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def check_address(host: str, port: int, online_access: bool) -> None:
    """Refuse what Blender's online-access setting forbids; loopback is always allowed."""
    if not host or any(c in host for c in "/ ?#@"):
        raise AddressNotAllowedError(f"invalid server host {host!r}: give a host name or IP address only")
    if not 0 < port < 65536:
        raise AddressNotAllowedError(f"invalid server port {port}: expected 1..65535")
    if not is_loopback(host) and not online_access:
        raise AddressNotAllowedError(
            f"server {host} is not on this machine and Blender's online access is off "
            "(Preferences > System > Network > Allow Online Access), or use 127.0.0.1"
        )


def encode_multipart(fields: Mapping[str, str], files: Sequence[FilePart]) -> tuple[bytes, str]:
    """Build a multipart/form-data body; returns (body, content_type)."""
    boundary = f"in2n-{uuid.uuid4().hex}"
    chunks: list[bytes] = []
    for name, value in fields.items():
        chunks.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{_quote_header(name)}"\r\n'
            f"Content-Type: application/json; charset=utf-8\r\n\r\n".encode()
        )
        chunks.append(value.encode("utf-8"))
        chunks.append(b"\r\n")
    for part in files:
        chunks.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{_quote_header(part.field)}"; '
            f'filename="{_quote_header(part.filename)}"\r\nContent-Type: {part.content_type}\r\n\r\n'.encode()
        )
        chunks.append(part.data)
        chunks.append(b"\r\n")
    chunks.append(f"--{boundary}--\r\n".encode())
    return b"".join(chunks), f"multipart/form-data; boundary={boundary}"


def _quote_header(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', "%22").replace("\r", "").replace("\n", "")


class SSEParser:
    """Turns the lines of a text/event-stream into Events (the WHATWG rules the protocol needs)."""

    def __init__(self) -> None:
        self._id: str | None = None
        self._kind = "message"
        self._data: list[str] = []

    def feed_line(self, line: str) -> Event | None:
        """Feed one line without its newline; returns an Event when a blank line completes one."""
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return None  # comment (the server's `: ping`)
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "id":
            self._id = value
        elif name == "event":
            self._kind = value
        elif name == "data":
            self._data.append(value)
        return None

    def _dispatch(self) -> Event | None:
        if not self._data:
            self._kind = "message"
            return None
        text = "\n".join(self._data)
        kind, event_id = self._kind, self._id
        self._data, self._kind = [], "message"
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ClientError(f"server sent an event whose data is not JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise ClientError("server sent an event whose data is not a JSON object")
        try:
            number = int(event_id) if event_id else 0
        except ValueError:
            number = 0
        return Event(number, kind, data)


class Client:
    """One in2n-server: blocking calls, safe to use from one worker thread at a time.

    Every method raises ServerUnreachableError, ServerError or ClientError; nothing else escapes.
    """

    def __init__(
        self,
        host: str = wire.DEFAULT_HOST,
        port: int = wire.DEFAULT_PORT,
        token: str = "",
        *,
        online_access: bool = False,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        check_address(host, port, online_access)
        self.host = host
        self.port = port
        self.token = token
        self.timeout = timeout
        self._stream_lock = threading.Lock()
        self._stream_conn: http.client.HTTPConnection | None = None

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    # -- plain requests ---------------------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        body: bytes | None = None,
        content_type: str | None = None,
        timeout: float | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """Send one request; returns (status, headers, body) for 2xx, raises for everything else."""
        headers = self._headers()
        if json_body is not None:
            body = json.dumps(json_body).encode("utf-8")
            content_type = "application/json"
        if content_type:
            headers["Content-Type"] = content_type
        conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout or self.timeout)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            data = response.read()
            status = response.status
            response_headers = {k.lower(): v for k, v in response.getheaders()}
        except (OSError, http.client.HTTPException) as exc:
            raise ServerUnreachableError(
                f"cannot reach the in2n server at {self.base_url}: {_reason(exc)}"
            ) from exc
        finally:
            conn.close()
        if status >= 400:
            raise _server_error(status, data)
        return status, response_headers, data

    def get_json(self, path: str, **kwargs: Any) -> Any:
        return _parse_json(self.request("GET", path, **kwargs)[2])

    def post_json(self, path: str, payload: Any = None, **kwargs: Any) -> Any:
        data = self.request("POST", path, json_body=payload if payload is not None else {}, **kwargs)[2]
        return _parse_json(data) if data else None

    # -- the protocol's routes --------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        info = self.get_json(wire.route("health"), timeout=5.0)
        if not isinstance(info, dict):
            raise ClientError("server health answer is not a JSON object")
        version = info.get("api_version")
        if version != wire.API_VERSION:
            raise ClientError(
                f"server speaks protocol version {version!r}, this extension speaks {wire.API_VERSION}"
            )
        return info

    def upload_scene(
        self,
        transforms: Mapping[str, Any],
        images: Sequence[FilePart],
        masks: Sequence[FilePart] = (),
        depths: Sequence[FilePart] = (),
        lights: Sequence[FilePart] = (),
        surfaces: FilePart | None = None,
    ) -> dict[str, Any]:
        """Create a scene from a capture: each file goes in the multipart field of its kind (the frames of
        `transforms` name them; `surfaces` is the one file its `in2n_surfaces` names)."""
        parts = [FilePart("images", p.filename, p.data, p.content_type) for p in images]
        parts += [FilePart("masks", p.filename, p.data, p.content_type) for p in masks]
        parts += [FilePart("depths", p.filename, p.data, p.content_type) for p in depths]
        parts += [FilePart("lights", p.filename, p.data, p.content_type) for p in lights]
        if surfaces is not None:
            parts.append(FilePart("surfaces", surfaces.filename, surfaces.data, surfaces.content_type))
        body, content_type = encode_multipart({"transforms": json.dumps(transforms)}, parts)
        data = self.request("POST", wire.route("scenes"), body=body, content_type=content_type, timeout=300.0)
        return _parse_json(data[2])

    def scene_from_path(self, path: str) -> dict[str, Any]:
        return self.post_json(wire.route("scenes", "from-path"), {"path": path}, timeout=300.0)

    def get_scene(self, scene_id: str) -> dict[str, Any]:
        return self.get_json(wire.route("scenes", quote(scene_id, safe="")))

    def create_job(self, params: Mapping[str, Any]) -> dict[str, Any]:
        return self.post_json(wire.route("jobs"), dict(params))

    def get_job(self, job_id: str) -> dict[str, Any]:
        return self.get_json(wire.route("jobs", quote(job_id, safe="")))

    def cancel_job(self, job_id: str) -> dict[str, Any]:
        return self.post_json(wire.route("jobs", quote(job_id, safe=""), "cancel"))

    def resume_job(self, job_id: str) -> dict[str, Any]:
        return self.post_json(wire.route("jobs", quote(job_id, safe=""), "resume"))

    def preview(
        self, job_id: str, camera: Mapping[str, Any], width: int | None = None, height: int | None = None
    ) -> bytes:
        """PNG bytes of the job's NeRF seen from `camera` (resampled to width x height when given)."""
        payload: dict[str, Any] = {"camera": wire.check_camera(camera)}
        if width:
            payload["width"] = int(width)
        if height:
            payload["height"] = int(height)
        route = wire.route("jobs", quote(job_id, safe=""), "preview")
        return self.request("POST", route, json_body=payload, timeout=120.0)[2]

    def job_image(self, job_id: str, index: int) -> bytes:
        return self.request("GET", wire.route("jobs", quote(job_id, safe=""), "images", int(index)))[2]

    def export(
        self,
        job_id: str,
        kind: str,
        fmt: str = "ply",
        *,
        num_points: int = wire.EXPORT_PARAMS["num_points"].default,
        resolution: int = wire.EXPORT_PARAMS["resolution"].default,
        masked_only: bool = False,
        sh_degree: int = wire.EXPORT_PARAMS["sh_degree"].default,
        refine_steps: int = wire.EXPORT_PARAMS["refine_steps"].default,
        texture_size: int = wire.EXPORT_PARAMS["texture_size"].default,
        faces: int = wire.EXPORT_PARAMS["faces"].default,
        vertex_colors: bool = False,
    ) -> tuple[str, bytes]:
        """Download the job's geometry (or its textures zip); returns (file name, bytes). `masked_only`: the
        edited objects only."""
        if kind not in wire.EXPORT_KINDS:
            raise ClientError(f"export kind {kind!r} is not one of {wire.EXPORT_KINDS}")
        if fmt not in wire.EXPORT_FORMATS[kind]:
            raise ClientError(
                f"export format {fmt!r} is not offered for {kind} ({wire.EXPORT_FORMATS[kind]})"
            )
        payload = {"kind": kind, "format": fmt, "num_points": int(num_points), "resolution": int(resolution)}
        if masked_only:
            payload["masked_only"] = True  # left out otherwise: servers before it refuse unknown fields
        if kind == "splats" and sh_degree != wire.EXPORT_PARAMS["sh_degree"].default:
            payload["sh_degree"] = int(sh_degree)
        if kind == "splats" and refine_steps != wire.EXPORT_PARAMS["refine_steps"].default:
            payload["refine_steps"] = int(refine_steps)
        if kind == "textures" or (kind == "mesh" and fmt != "ply" and not vertex_colors):
            payload["texture_size"] = int(texture_size)
        if kind == "mesh":
            payload["faces"] = int(faces)
            if vertex_colors:
                payload["vertex_colors"] = True
        route = wire.route("jobs", quote(job_id, safe=""), "export")
        _, headers, data = self.request("POST", route, json_body=payload, timeout=EXPORT_TIMEOUT)
        return _filename(headers.get("content-disposition", ""), f"{kind}.{fmt}"), data

    # -- the event stream -------------------------------------------------------------------------------

    def events(self, job_id: str, after: int = 0) -> Iterator[Event]:
        """Yield the job's events after sequence number `after`, until `done` or the stream ends.

        Raises ServerUnreachableError when the connection drops; the caller reconnects with the last id.
        `close_stream()` from another thread ends a blocked read.
        """
        headers = self._headers()
        headers["Accept"] = "text/event-stream"
        if after:
            headers["Last-Event-ID"] = str(int(after))
        conn = http.client.HTTPConnection(self.host, self.port, timeout=STREAM_TIMEOUT)
        with self._stream_lock:
            self._stream_conn = conn
        try:
            try:
                conn.request("GET", wire.route("jobs", quote(job_id, safe=""), "events"), headers=headers)
                response = conn.getresponse()
            except (OSError, http.client.HTTPException) as exc:
                raise ServerUnreachableError(
                    f"cannot reach the in2n server at {self.base_url}: {_reason(exc)}"
                ) from exc
            if response.status >= 400:
                raise _server_error(response.status, response.read())
            parser = SSEParser()
            while True:
                try:
                    # The response's own readline decodes chunked transfer: an event may span chunks
                    # and a chunk may hold several events (`response.fp` would see chunk headers).
                    raw = response.readline()
                except (OSError, http.client.HTTPException, ValueError, AttributeError) as exc:
                    raise ServerUnreachableError(
                        f"event stream from {self.base_url} lost: {_reason(exc)}"
                    ) from exc
                if not raw:
                    return
                event = parser.feed_line(raw.decode("utf-8", "replace").rstrip("\r\n"))
                if event is not None:
                    yield event
                    if event.kind == wire.EVENT_DONE:
                        return
        finally:
            with self._stream_lock:
                self._stream_conn = None
            conn.close()

    def close_stream(self) -> None:
        """Unblock a thread reading `events()` (called from another thread)."""
        with self._stream_lock:
            conn = self._stream_conn
        if conn is not None and conn.sock is not None:
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)

    def _headers(self) -> dict[str, str]:
        headers = {"User-Agent": "blender-in2n", "Accept": "application/json"}
        if self.token:
            headers[wire.TOKEN_HEADER] = f"Bearer {self.token}"
        return headers


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused (is the server running?)"
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    return str(exc) or type(exc).__name__


def _parse_json(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ClientError(f"server answer is not JSON: {exc}") from exc


def _server_error(status: int, data: bytes) -> ServerError:
    """The protocol's error body, or a readable stand-in when a proxy or crash sent something else."""
    try:
        body = json.loads(data)
        error = body["error"]
        return ServerError(
            status, str(error.get("code", "error")), str(error.get("message", "")), error.get("field")
        )
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError, AttributeError):
        text = data[:200].decode("utf-8", "replace").strip() or http.client.responses.get(status, "error")
        return ServerError(status, "http_error", text)


def _filename(disposition: str, default: str) -> str:
    match = re.search(r'filename="?([^";]+)"?', disposition)
    name = os.path.basename(match.group(1)) if match else ""
    return name or default
