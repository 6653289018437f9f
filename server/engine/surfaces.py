"""The selected objects' surfaces a capture carries: triangles in the world frame with their UV maps.

What the `textures` export bakes into (docs/protocol.md, *Surfaces*): an `.npz` read without pickle, with
`names` [K] and per object `positions_k` [T, 3, 3] and `uvs_k` [T, 3, 2] (per triangle corner). Checked in
full before anything is written, so a bad upload is refused with the rule it breaks. numpy only (the
server's ingest reads it without torch).
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from in2n_protocol.wire import (
    SURFACES_FILE,
    SURFACES_KEY,
    SURFACES_MAX_NAME,
    SURFACES_MAX_OBJECTS,
    SURFACES_MAX_TRIANGLES,
)

__all__ = ["SURFACES_FILE", "SURFACES_KEY", "Surface", "SurfaceError", "read_surfaces", "write_surfaces"]

MAX_OBJECTS = SURFACES_MAX_OBJECTS
MAX_TRIANGLES = SURFACES_MAX_TRIANGLES
MAX_NAME_LENGTH = SURFACES_MAX_NAME


class SurfaceError(ValueError):
    """A surfaces file that breaks a rule; the message names the object and the rule."""


@dataclass(frozen=True)
class Surface:
    """One object's triangles: corners [T, 3, 3] in the world frame and their UVs [T, 3, 2]."""

    name: str
    positions: np.ndarray
    uvs: np.ndarray

    @property
    def triangles(self) -> int:
        return len(self.positions)


def read_surfaces(source: Path | BinaryIO, name: str = SURFACES_FILE) -> list[Surface]:
    """Every object of a surfaces file, validated; SurfaceError names the first problem."""
    data = Path(source).read_bytes() if isinstance(source, Path) else source.read()
    _check_archive(data, name)
    try:
        arrays = np.load(io.BytesIO(data), allow_pickle=False)
        names = _names(arrays, name)
        surfaces = []
        total = 0
        for k, object_name in enumerate(names):
            positions = _array(arrays, f"positions_{k}", (3, 3), name, object_name)
            uvs = _array(arrays, f"uvs_{k}", (3, 2), name, object_name)
            if len(positions) != len(uvs):
                raise SurfaceError(
                    f"{name}: {object_name!r} has {len(positions)} triangles but {len(uvs)} UV triangles"
                )
            total += len(positions)
            if total > MAX_TRIANGLES:
                raise SurfaceError(f"{name}: more than {MAX_TRIANGLES} triangles in all")
            surfaces.append(Surface(object_name, positions, uvs))
    except (ValueError, OSError, EOFError, KeyError, zipfile.BadZipFile) as error:
        if isinstance(error, SurfaceError):
            raise
        raise SurfaceError(f"{name}: not a readable surfaces archive ({error})") from error
    return surfaces


def write_surfaces(path: Path, surfaces: list[Surface]) -> None:
    """The surfaces file as `read_surfaces` reads it (the prepared dataset's copy, and tests' inputs)."""
    arrays: dict[str, np.ndarray] = {"names": np.array([s.name for s in surfaces], dtype=str)}
    for k, surface in enumerate(surfaces):
        arrays[f"positions_{k}"] = np.asarray(surface.positions, np.float32)
        arrays[f"uvs_{k}"] = np.asarray(surface.uvs, np.float32)
    with Path(path).open("wb") as handle:
        np.savez(handle, **arrays)


def _check_archive(data: bytes, name: str) -> None:
    """A zip of .npy members whose declared sizes stay within the limits (no decompression bombs)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
    except zipfile.BadZipFile as error:
        raise SurfaceError(f"{name}: not an .npz archive ({error})") from error
    if len(members) > 2 * MAX_OBJECTS + 1:
        raise SurfaceError(f"{name}: at most {MAX_OBJECTS} objects")
    limit = MAX_TRIANGLES * (9 + 6) * 8 + 2**20  # float64 corners and UVs, plus headers and names
    if sum(member.file_size for member in members) > limit:
        raise SurfaceError(f"{name}: larger than {MAX_TRIANGLES} triangles can be")


def _names(arrays: np.lib.npyio.NpzFile, name: str) -> list[str]:
    if "names" not in arrays.files:
        raise SurfaceError(f"{name}: no `names` array")
    names = arrays["names"]
    if names.ndim != 1 or names.dtype.kind != "U" or not 1 <= len(names) <= MAX_OBJECTS:
        raise SurfaceError(f"{name}: `names` must be 1..{MAX_OBJECTS} strings")
    listed = [str(n) for n in names]
    for object_name in listed:
        if not 1 <= len(object_name) <= MAX_NAME_LENGTH or not object_name.isprintable():
            raise SurfaceError(
                f"{name}: object name {object_name!r} must be 1..{MAX_NAME_LENGTH} printable characters"
            )
    if len(set(listed)) != len(listed):
        raise SurfaceError(f"{name}: object names must be unique")
    expected = {"names", *(f"{kind}_{k}" for k in range(len(listed)) for kind in ("positions", "uvs"))}
    extra = sorted(set(arrays.files) - expected)
    if extra:
        raise SurfaceError(f"{name}: unexpected array {extra[0]!r}")
    return listed


def _array(
    arrays: np.lib.npyio.NpzFile, key: str, shape: tuple[int, int], name: str, object_name: str
) -> np.ndarray:
    if key not in arrays.files:
        raise SurfaceError(f"{name}: {object_name!r} has no `{key}` array")
    array = arrays[key]
    if array.ndim != 3 or array.shape[1:] != shape or array.dtype.kind != "f":
        raise SurfaceError(
            f"{name}: `{key}` of {object_name!r} must be float [T, {shape[0]}, {shape[1]}], "
            f"got {array.dtype} {array.shape}"
        )
    if not len(array):
        raise SurfaceError(f"{name}: {object_name!r} has no triangles")
    if not np.isfinite(array).all():
        raise SurfaceError(f"{name}: `{key}` of {object_name!r} has non-finite numbers")
    return array.astype(np.float32)
