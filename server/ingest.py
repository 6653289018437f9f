"""Scene ingest: validate an upload or a server-side dataset, then prepare it into the workspace.

Everything is checked before anything lands in the workspace: the request is staged in `tmp/`,
prepared there (`prepare_dataset`: downscale, alpha and depth kept, per-frame intrinsics) and renamed into
`scenes/` in one step. A rejected request leaves the workspace as it was.

What a dataset may hold (cameras, the intrinsics a frame may leave out) is the engine's one validator,
`engine.dataset`; this module adds the request's concerns: limits, file names, allowed roots, staging.
It imports no torch.
"""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from PIL import Image, UnidentifiedImageError

from .config import Settings
from .engine import dataset
from .engine.dataset import INTRINSIC_KEYS, DatasetError, frame_cameras, prepare_dataset
from .engine.depth_maps import DepthMapError, depth_map_size
from .engine.geometry import BOUNDS_KEY, check_bounds
from .engine.light_maps import LIGHT_KEY, LightMapError, light_map_size
from .engine.surfaces import SURFACES_FILE, SURFACES_KEY, SurfaceError, read_surfaces
from .fileio import read_json, write_json_atomic
from .jobs.errors import BadRequestError, ForbiddenError, InvalidInputError, TooLargeError
from .jobs.store import SceneStore, Workspace, new_id, utc_now

IMAGE_FORMATS = ("PNG", "JPEG")
FRAME_FILES = (
    ("file_path", "images"),
    ("mask_path", "masks"),
    ("depth_file_path", "depths"),
    (LIGHT_KEY, "lights"),
)
"""A frame's keys naming files, and the upload field that carries each kind."""
SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\- ]{0,200}$")


@dataclass
class SourceFile:
    """One image to ingest: its name, and an open binary stream or a path on the server."""

    name: str
    stream: BinaryIO | None = None
    path: Path | None = None

    def open(self) -> BinaryIO:
        if self.stream is not None:
            self.stream.seek(0)
            return self.stream
        assert self.path is not None
        return self.path.open("rb")


def invalid_input(error: DatasetError) -> InvalidInputError:
    """The engine's dataset error as the request's: fields of the document are under `transforms`."""
    field = error.field
    if not field.startswith("frames["):  # a frame's own fields keep the frame's name
        field = "transforms" if field == "transforms.json" else f"transforms.{field}"
    return InvalidInputError(error.message, field=field)


def parse_transforms(text: str | bytes) -> dict[str, Any]:
    """The `transforms` field: a JSON object (400 if it is not JSON at all, or nested absurdly deep)."""
    try:
        document = dataset.parse_transforms(text)
    except DatasetError as error:
        raise BadRequestError(error.message, field="transforms") from error
    if not isinstance(document, dict):
        raise InvalidInputError("expected a JSON object with a 'frames' list", field="transforms")
    return document


def check_frames(document: Mapping[str, Any], max_images: int) -> list[dict[str, Any]]:
    """Each frame's camera, resolved and validated by the engine's rules, plus its file names."""
    frames = document.get("frames")
    if isinstance(frames, list) and len(frames) > max_images:
        raise TooLargeError(
            f"{len(frames)} frames; this server accepts at most {max_images} images per scene",
            field="transforms.frames",
        )
    try:
        cameras = frame_cameras(document)
    except DatasetError as error:
        raise invalid_input(error) from error
    for i, (frame, camera) in enumerate(zip(frames, cameras, strict=True)):
        field = f"frames[{i}]"
        file_path = frame.get("file_path")
        if not isinstance(file_path, str) or not file_path.strip():
            raise InvalidInputError("file_path must name an image", field=f"{field}.file_path")
        camera["file_path"] = file_path
        for key, _ in FRAME_FILES[1:]:
            if frame.get(key) is not None:
                if not isinstance(frame[key], str) or not frame[key].strip():
                    raise InvalidInputError("expected a file name", field=f"{field}.{key}")
                camera[key] = frame[key]
    return cameras


def check_image(source: SourceFile, field: str, max_side: int) -> tuple[int, int]:
    """Decode fully (PNG or JPEG only) and return (width, height)."""
    try:
        with Image.open(source.path if source.path is not None else source.open()) as image:
            if image.format not in IMAGE_FORMATS:
                raise InvalidInputError(f"{source.name}: {image.format} is not accepted (PNG or JPEG)", field)
            width, height = image.size
            if max(width, height) > max_side:
                raise TooLargeError(
                    f"{source.name} is {width}x{height}; this server accepts at most {max_side} px per side",
                    field,
                )
            image.load()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as error:
        if isinstance(error, InvalidInputError | TooLargeError):
            raise
        raise InvalidInputError(
            f"{source.name}: not a readable PNG or JPEG image ({error})", field
        ) from error
    return width, height


def check_depth(source: SourceFile, field: str, max_side: int) -> tuple[int, int]:
    """Read a depth map fully (.npy float z-depth, or 16-bit PNG millimetres) and return (width, height)."""
    try:  # an upload's stream stays open: it is copied into the workspace afterwards
        width, height = depth_map_size(source.path if source.path is not None else source.open(), source.name)
    except DepthMapError as error:
        raise InvalidInputError(str(error), field) from error
    if max(width, height) > max_side:
        raise TooLargeError(
            f"{source.name} is {width}x{height}; this server accepts at most {max_side} px per side", field
        )
    return width, height


def check_light(source: SourceFile, field: str, max_side: int) -> tuple[int, int]:
    """Read a light map fully ([H, W, 6] .npy) and return (width, height)."""
    try:
        width, height = light_map_size(source.path if source.path is not None else source.open(), source.name)
    except LightMapError as error:
        raise InvalidInputError(str(error), field) from error
    if max(width, height) > max_side:
        raise TooLargeError(
            f"{source.name} is {width}x{height}; this server accepts at most {max_side} px per side", field
        )
    return width, height


def check_surfaces(source: SourceFile | None, document: Mapping[str, Any]) -> SourceFile | None:
    """The scene's surfaces file, read in full, when the document names one (and only then)."""
    named = document.get(SURFACES_KEY)
    if named is None:
        if source is not None:
            raise InvalidInputError(
                f"a surfaces file was uploaded but transforms has no {SURFACES_KEY}", "surfaces"
            )
        return None
    if not isinstance(named, str) or not named.strip():
        raise InvalidInputError("expected a file name", field=f"transforms.{SURFACES_KEY}")
    if source is None:
        raise InvalidInputError(
            f"names {named!r} but no surfaces file was uploaded", f"transforms.{SURFACES_KEY}"
        )
    try:
        read_surfaces(source.path if source.path is not None else source.open(), source.name)
    except SurfaceError as error:
        raise InvalidInputError(str(error), field="surfaces") from error
    return source


def check_scene_bounds(document: Mapping[str, Any]) -> dict[str, list[float]] | None:
    """The optional `in2n_bounds` box of the scene's content (scene frame), validated."""
    if document.get(BOUNDS_KEY) is None:
        return None
    try:
        return check_bounds(document[BOUNDS_KEY], f"transforms.{BOUNDS_KEY}")
    except ValueError as error:
        raise InvalidInputError(str(error).split(": ", 1)[1], field=f"transforms.{BOUNDS_KEY}") from error


def check_file_name(name: str, field: str) -> str:
    """Upload names are bare file names: no folders, no traversal, no odd characters."""
    if not SAFE_NAME.match(name) or ".." in name:
        raise InvalidInputError(
            f"{name!r} is not an acceptable file name (letters, digits, _ . - only)", field
        )
    return name


class SceneIngest:
    """Creates scenes from uploads or server-side datasets."""

    def __init__(self, settings: Settings, workspace: Workspace, scenes: SceneStore) -> None:
        self.settings = settings
        self.workspace = workspace
        self.scenes = scenes

    def from_upload(
        self,
        transforms: str | bytes,
        images: Sequence[SourceFile],
        masks: Sequence[SourceFile] = (),
        depths: Sequence[SourceFile] = (),
        lights: Sequence[SourceFile] = (),
        surfaces: SourceFile | None = None,
    ) -> dict[str, Any]:
        document = parse_transforms(transforms)
        frames = check_frames(document, self.settings.max_images)
        bounds = check_scene_bounds(document)
        if surfaces is not None:
            check_file_name(surfaces.name, "surfaces")
        surfaces = check_surfaces(surfaces, document)
        if len(images) > self.settings.max_images:
            raise TooLargeError(f"at most {self.settings.max_images} images per scene", field="images")
        by_kind = {}
        for kind, files in (("images", images), ("masks", masks), ("depths", depths), ("lights", lights)):
            named: dict[str, SourceFile] = {}
            for i, source in enumerate(files):
                check_file_name(source.name, f"{kind}[{i}]")
                if source.name in named:
                    raise InvalidInputError(f"two uploads are named {source.name!r}", field=f"{kind}[{i}]")
                named[source.name] = source
            by_kind[kind] = named
        if not by_kind["images"]:
            raise InvalidInputError("no images were uploaded", field="images")
        resolved = []
        used: dict[str, set[str]] = {kind: set() for kind in by_kind}
        for i, frame in enumerate(frames):
            entry: dict[str, SourceFile] = {}
            for key, kind in FRAME_FILES:
                if key not in frame:
                    continue
                name = PurePosixPath(frame[key]).name
                source = by_kind[kind].get(name)
                if source is None:
                    raise InvalidInputError(
                        f"names {name!r} but no such file was uploaded in {kind}", field=f"frames[{i}].{key}"
                    )
                entry[kind] = source
                used[kind].add(name)
            resolved.append(entry)
        for kind, named in by_kind.items():
            unused = sorted(set(named) - used[kind])
            if unused:
                raise InvalidInputError(f"{unused[0]!r} is not named by any frame", field=kind)
        return self._ingest(frames, resolved, source_label="upload", bounds=bounds, surfaces=surfaces)

    def from_path(self, path: str) -> dict[str, Any]:
        folder = self.check_server_path(path)
        transforms_file = folder / "transforms.json"
        if not transforms_file.is_file():
            raise InvalidInputError(f"{folder} has no transforms.json (a nerfstudio dataset)", field="path")
        try:
            text = transforms_file.read_bytes()
        except OSError as error:
            raise InvalidInputError(f"cannot read {transforms_file}: {error}", field="path") from error
        document = parse_transforms(text)
        frames = check_frames(document, self.settings.max_images)
        bounds = check_scene_bounds(document)
        resolved = []
        for i, frame in enumerate(frames):
            entry: dict[str, SourceFile] = {}
            for key, kind in FRAME_FILES:
                if key in frame:
                    file = self._inside(folder, frame[key], f"frames[{i}].{key}")
                    entry[kind] = SourceFile(file.name, path=file)
            resolved.append(entry)
        surfaces = None
        if isinstance(document.get(SURFACES_KEY), str):
            file = self._inside(folder, document[SURFACES_KEY], f"transforms.{SURFACES_KEY}")
            surfaces = SourceFile(file.name, path=file)
        surfaces = check_surfaces(surfaces, document)
        return self._ingest(frames, resolved, source_label=str(folder), bounds=bounds, surfaces=surfaces)

    def check_server_path(self, path: str) -> Path:
        """The dataset folder, resolved (symlinks too) and inside one of the allowed roots."""
        if not self.settings.allow_roots:
            raise ForbiddenError(
                "this server reads no server-side paths; start it with --allow-root DIR", field="path"
            )
        if not isinstance(path, str) or not path or "\x00" in path:
            raise InvalidInputError("expected a folder path", field="path")
        try:
            folder = Path(path).expanduser().resolve(strict=True)
        except (OSError, RuntimeError) as error:
            raise ForbiddenError(
                f"{path!r} is not a folder inside the allowed roots", field="path"
            ) from error
        if not any(folder.is_relative_to(root) for root in self.settings.allow_roots):
            raise ForbiddenError(f"{path!r} is not a folder inside the allowed roots", field="path")
        if not folder.is_dir():
            raise InvalidInputError(f"{path!r} is not a folder", field="path")
        return folder

    def _inside(self, folder: Path, relative: str, field: str) -> Path:
        """A dataset's file path, which must stay inside the dataset folder (nerf-synthetic style paths
        without an extension get `.png`)."""
        for candidate in (relative, relative + ".png"):
            try:
                file = (folder / candidate).resolve(strict=True)
            except (OSError, RuntimeError):
                continue
            if not file.is_relative_to(folder):
                raise ForbiddenError(f"{relative!r} points outside the dataset folder", field=field)
            if file.is_file():
                return file
        raise InvalidInputError(f"{relative!r} does not exist in the dataset", field=field)

    def _ingest(
        self,
        frames: list[dict[str, Any]],
        files: list[dict[str, SourceFile]],
        source_label: str,
        bounds: dict[str, list[float]] | None = None,
        surfaces: SourceFile | None = None,
    ) -> dict[str, Any]:
        size = self._check_images(frames, files)
        staging = Path(tempfile.mkdtemp(prefix="scene-", dir=self.workspace.tmp))
        try:
            scene_id = new_id("s")
            source = staging / "source"
            self._write_source(source, frames, files, bounds, surfaces)
            scene = staging / "scene"
            prepared = scene / "dataset"
            try:
                prepare_dataset(source, prepared, max_image_size=self.settings.max_image_size)
            except DatasetError as error:
                raise invalid_input(error) from error
            except (ValueError, OSError) as error:
                raise InvalidInputError(f"cannot prepare the images: {error}", field="images") from error
            cameras = self._read_cameras(prepared)
            record = {
                "scene_id": scene_id,
                "num_images": len(cameras),
                "width": cameras[0]["w"] if cameras else size[0],
                "height": cameras[0]["h"] if cameras else size[1],
                "created_at": utc_now(),
                "source": source_label,
                "cameras": cameras,
            }
            write_json_atomic(scene / "scene.json", record)
            scene.rename(self.workspace.scene_dir(scene_id))
            self.scenes.add(record)
            return record
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _check_images(
        self, frames: list[dict[str, Any]], files: list[dict[str, SourceFile]]
    ) -> tuple[int, int]:
        size: tuple[int, int] | None = None
        max_side = self.settings.max_image_side
        for i, (frame, entry) in enumerate(zip(frames, files, strict=True)):
            image_size = check_image(entry["images"], f"frames[{i}].file_path", max_side)
            if size is None:
                size = image_size
            elif image_size != size:
                raise InvalidInputError(
                    f"{entry['images'].name} is {image_size[0]}x{image_size[1]} but the first image is "
                    f"{size[0]}x{size[1]}; all images of a scene must share one size",
                    field=f"frames[{i}].file_path",
                )
            if (frame["w"], frame["h"]) != image_size:
                raise InvalidInputError(
                    f"camera says {frame['w']}x{frame['h']} but {entry['images'].name} is "
                    f"{image_size[0]}x{image_size[1]}",
                    field=f"frames[{i}].w",
                )
            for kind, key, check in (
                ("masks", "mask_path", check_image),
                ("depths", "depth_file_path", check_depth),
                ("lights", LIGHT_KEY, check_light),
            ):
                if kind in entry:
                    other = check(entry[kind], f"frames[{i}].{key}", max_side)
                    if other != image_size:
                        raise InvalidInputError(
                            f"{entry[kind].name} is {other[0]}x{other[1]}, "
                            f"its image {image_size[0]}x{image_size[1]}",
                            field=f"frames[{i}].{key}",
                        )
        assert size is not None
        return size

    @staticmethod
    def _write_source(
        source: Path,
        frames: list[dict[str, Any]],
        files: list[dict[str, SourceFile]],
        bounds: dict[str, list[float]] | None,
        surfaces: SourceFile | None = None,
    ) -> None:
        """A plain nerfstudio dataset (per-frame intrinsics) that `prepare_dataset` reads."""
        out_frames = []
        for i, (frame, entry) in enumerate(zip(frames, files, strict=True)):
            out = {k: frame[k] for k in (*INTRINSIC_KEYS, "transform_matrix")}
            for key, kind in FRAME_FILES:
                if kind not in entry:
                    continue
                src = entry[kind]
                target = source / kind / f"{i:05d}{Path(src.name).suffix.lower() or '.png'}"
                _copy(src, target)
                out[key] = f"{kind}/{target.name}"
            out_frames.append(out)
        document: dict[str, Any] = {"camera_model": "OPENCV", "frames": out_frames}
        if bounds is not None:
            document[BOUNDS_KEY] = bounds
        if surfaces is not None:
            _copy(surfaces, source / SURFACES_FILE)
            document[SURFACES_KEY] = SURFACES_FILE
        write_json_atomic(source / "transforms.json", document)

    @staticmethod
    def _read_cameras(prepared: Path) -> list[dict[str, Any]]:
        document = read_json(prepared / "transforms.json")
        cameras = []
        for frame in document["frames"]:
            merged = {**{k: document[k] for k in INTRINSIC_KEYS if k in document}, **frame}
            camera = {k: merged[k] for k in (*INTRINSIC_KEYS, "transform_matrix", "file_path")}
            cameras.append(camera)
        return cameras


def _copy(source: SourceFile, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    if source.path is not None:
        shutil.copyfile(source.path, target)
    else:
        with target.open("wb") as handle:
            shutil.copyfileobj(source.open(), handle)
