"""The client's wire pieces without a server: SSE parsing, multipart bodies, address rules, error bodies."""

from __future__ import annotations

import email.parser
import email.policy
import json
import socket

import pytest

from blender_in2n import client
from in2n_protocol import wire


def test_sse_parser_reads_ids_kinds_multiline_data_and_skips_pings() -> None:
    parser = client.SSEParser()
    lines = [": ping", "id: 7", "event: progress", 'data: {"step": 3,', 'data: "phase": "base"}', ""]
    events = [e for e in (parser.feed_line(line) for line in lines) if e is not None]
    assert events == [client.Event(7, "progress", {"step": 3, "phase": "base"})]
    assert parser.feed_line("") is None  # a blank line with no data dispatches nothing


def test_sse_parser_names_non_json_data() -> None:
    parser = client.SSEParser()
    parser.feed_line("data: not json")
    with pytest.raises(client.ClientError, match="not JSON"):
        parser.feed_line("")


def test_multipart_body_parses_back_with_the_standard_library() -> None:
    transforms = {"frames": [{"file_path": "images/0000.png"}]}
    files = [
        client.FilePart("images", "0000.png", b"\x89PNG-bytes"),
        client.FilePart("masks", "0000.png", b"m"),
    ]
    body, content_type = client.encode_multipart({"transforms": json.dumps(transforms)}, files)
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    parts = list(message.iter_parts())
    assert [p.get_param("name", header="content-disposition") for p in parts] == [
        "transforms",
        "images",
        "masks",
    ]
    assert json.loads(parts[0].get_payload(decode=True)) == transforms
    assert parts[1].get_filename() == "0000.png"
    assert parts[1].get_payload(decode=True) == b"\x89PNG-bytes"


@pytest.mark.parametrize("host", ["127.0.0.1", "127.3.4.5", "localhost", "::1", "[::1]"])
def test_loopback_is_always_allowed(host: str) -> None:
    client.check_address(host, 7860, online_access=False)


def test_remote_hosts_need_online_access() -> None:
    with pytest.raises(client.AddressNotAllowedError, match="online access"):
        client.check_address("192.168.1.20", 7860, online_access=False)
    client.check_address("192.168.1.20", 7860, online_access=True)
    with pytest.raises(client.AddressNotAllowedError, match="invalid server host"):
        client.check_address("http://example.com", 7860, online_access=True)
    with pytest.raises(client.AddressNotAllowedError, match="port"):
        client.check_address("127.0.0.1", 70000, online_access=False)


def test_unreachable_server_raises_a_readable_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    c = client.Client("127.0.0.1", port)
    with pytest.raises(client.ServerUnreachableError, match="refused"):
        c.health()


def test_error_body_becomes_server_error_with_the_servers_message() -> None:
    body = json.dumps(
        {"error": {"code": "validation_error", "message": "frames[3]: bad", "field": "frames[3]"}}
    )
    error = client._server_error(422, body.encode())
    assert (error.status, error.code, error.message, error.field) == (
        422,
        "validation_error",
        "frames[3]: bad",
        "frames[3]",
    )
    fallback = client._server_error(502, b"<html>Bad Gateway</html>")
    assert fallback.code == "http_error" and "Bad Gateway" in fallback.message


def test_export_checks_kind_and_format_before_sending() -> None:
    c = client.Client("127.0.0.1", 9)
    with pytest.raises(client.ClientError, match="format"):
        c.export("job", "point_cloud", "obj")
    assert wire.EXPORT_FORMATS["point_cloud"] == ("ply",)


def _parts(body: bytes, content_type: str) -> list:
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    return list(message.iter_parts())


def test_upload_scene_sends_light_maps_and_surfaces_in_their_own_fields(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A capture for textures: `lights` files (one per frame) and the one `surfaces` file."""
    sent = {}

    def request(self: client.Client, method: str, path: str, **kwargs: object) -> tuple:
        sent.update(method=method, path=path, **kwargs)
        return 201, {}, b'{"scene_id": "s-1"}'

    monkeypatch.setattr(client.Client, "request", request)
    npy = "application/octet-stream"
    scene = client.Client().upload_scene(
        {"frames": [], "in2n_surfaces": "surfaces.npz"},
        [client.FilePart("images", "0000.png", b"png")],
        depths=[client.FilePart("images", "0000.npy", b"depth", npy)],
        lights=[client.FilePart("images", "0000.npy", b"light", npy)],
        surfaces=client.FilePart("images", "surfaces.npz", b"npz", npy),
    )
    assert scene == {"scene_id": "s-1"}
    assert (sent["method"], sent["path"]) == ("POST", wire.route("scenes"))
    parts = _parts(sent["body"], sent["content_type"])
    fields = [(p.get_param("name", header="content-disposition"), p.get_filename()) for p in parts]
    assert fields == [
        ("transforms", None),
        ("images", "0000.png"),
        ("depths", "0000.npy"),
        ("lights", "0000.npy"),
        ("surfaces", "surfaces.npz"),
    ]
    assert [p.get_payload(decode=True) for p in parts[3:]] == [b"light", b"npz"]
    assert parts[4].get_content_type() == npy


def test_textures_export_asks_for_a_zip_of_the_texture_size(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[dict] = []

    def request(self: client.Client, method: str, path: str, **kwargs: object) -> tuple:
        sent.append(kwargs["json_body"])
        return 200, {"content-disposition": 'attachment; filename="textures.zip"'}, b"PK"

    monkeypatch.setattr(client.Client, "request", request)
    c = client.Client()
    assert c.export("j-1", "textures", "zip", texture_size=256) == ("textures.zip", b"PK")
    c.export("j-1", "mesh", "ply")
    assert sent[0]["kind"] == "textures" and sent[0]["format"] == "zip" and sent[0]["texture_size"] == 256
    assert "texture_size" not in sent[1]  # only the textures export has it
    with pytest.raises(client.ClientError, match="format"):
        c.export("j-1", "textures", "ply")


def test_splats_export_sends_refine_steps_only_when_not_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    sent: list[tuple[dict, object]] = []

    def request(self: client.Client, method: str, path: str, **kwargs: object) -> tuple:
        sent.append((kwargs["json_body"], kwargs["timeout"]))
        return 200, {"content-disposition": 'attachment; filename="splats.ply"'}, b"ply"

    monkeypatch.setattr(client.Client, "request", request)
    c = client.Client()
    c.export("j-1", "splats", "ply")
    c.export("j-1", "splats", "ply", refine_steps=0)
    c.export("j-1", "point_cloud", "ply", refine_steps=0)
    assert "refine_steps" not in sent[0][0]  # the server's default (servers before it refuse the field)
    assert sent[1][0]["refine_steps"] == 0
    assert "refine_steps" not in sent[2][0]  # only splats have it
    assert all(timeout == client.EXPORT_TIMEOUT >= 3600 for _, timeout in sent)  # a refined CPU export
