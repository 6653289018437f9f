"""Export geometry against exact depth maps: back-projection and TSDF fusion land on the true surface.

The renderer here is an exact ray caster of one sphere, standing in for `EditSession.render` so that the
export's camera conventions (OpenGL axes, pixel centres at +0.5, z-depth, open3d's OpenCV axes) are
checked without the noise of a NeRF. The end-to-end test does the same through the real engine.
"""

from __future__ import annotations

import io
import math
import zipfile

import numpy as np
import pytest
import trimesh

from in2n_server.engine.geometry import MOVED_DEPTH, camera_points, world_points
from in2n_server.engine.types import CameraSpec, RenderResult
from in2n_server.export.backproject import (
    SurfaceView,
    backproject,
    on_captured_surface,
    resize_mask,
    surface_pixels,
)
from in2n_server.export.errors import MasksMissingError
from in2n_server.export.mesh import tsdf_mesh, without_specks
from in2n_server.export.pointcloud import point_cloud
from in2n_server.export.texture_bake import srgb_to_linear
from in2n_server.export.writers import SCENE_TO_GLTF, mesh_bytes, point_cloud_ply

CENTRE = np.array([4.0, -2.0, 7.0])
RADIUS = 1.5


def look_at(position: np.ndarray, target: np.ndarray, up: np.ndarray) -> np.ndarray:
    back = (position - target) / np.linalg.norm(position - target)
    right = np.cross(up, back)
    right /= np.linalg.norm(right)
    pose = np.eye(4)
    pose[:3, 0], pose[:3, 1], pose[:3, 2], pose[:3, 3] = right, np.cross(back, right), back, position
    return pose


class SphereScene:
    """`training_cameras` around a sphere and an exact `render` (what export needs of a session).

    `view_mask` (as `EditSession.view_mask`) is None: the scene has no masks (see MaskedSphereScene).
    """

    def __init__(
        self, views: int = 12, width: int = 40, height: int = 32, sky_depth: float | None = None
    ) -> None:
        self.sky_depth = sky_depth  # an opaque background far behind the sphere, as a NeRF's sky
        self.training_cameras = []
        for i in range(views):
            angle = 2 * math.pi * i / views
            position = CENTRE + 6.0 * np.array([math.cos(angle), 0.5 * math.sin(2 * angle), math.sin(angle)])
            pose = look_at(position, CENTRE, np.array([0.3, 1.0, 0.1]))
            self.training_cameras.append(
                CameraSpec(36.0, 34.0, width / 2 + 1.3, height / 2 - 0.7, width, height, pose)
            )

    def render(self, camera: CameraSpec) -> RenderResult:
        local = camera_points(camera, np.ones((camera.height, camera.width))).reshape(-1, 3)  # z-depth 1
        c2w = np.asarray(camera.camera_to_world)
        directions = local @ c2w[:3, :3].T
        offset = c2w[:3, 3] - CENTRE
        a = np.sum(directions**2, axis=1)
        b = 2 * directions @ offset
        disc = b * b - 4 * a * (offset @ offset - RADIUS**2)
        t = (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a)  # the z-depth, as directions have z-depth 1
        hit = disc > 0
        depth = np.where(hit, t, self.sky_depth or 0.0).reshape(camera.height, camera.width)
        colour = np.where(hit[:, None], [0.9, 0.2, 0.1], [1.0, 1.0, 1.0]).reshape(
            camera.height, camera.width, 3
        )
        return RenderResult(
            colour.astype(np.float32),
            depth.astype(np.float32),
            (hit | (self.sky_depth is not None)).reshape(camera.height, camera.width).astype(np.float32),
        )

    def view_mask(self, index: int) -> np.ndarray | None:
        return None

    def held_depth(self, index: int) -> np.ndarray | None:
        return None


class MaskedSphereScene(SphereScene):
    """The sphere whose upper cap (world y above the centre) is "the edited object": its masks cover it."""

    def view_mask(self, index: int) -> np.ndarray:
        camera = self.training_cameras[index]
        world, hit = surface_pixels(self.render(camera), camera, crop=_NO_SKY)
        return hit & (world[..., 1] > CENTRE[1])


class _SphereOnly:
    def inside(self, points: np.ndarray) -> np.ndarray:
        return np.linalg.norm(points - CENTRE, axis=-1) <= RADIUS + 1e-3


_NO_SKY = _SphereOnly()


def surface_error(points: np.ndarray) -> np.ndarray:
    return np.abs(np.linalg.norm(points - CENTRE, axis=1) - RADIUS)


def test_backprojected_points_lie_on_the_sphere() -> None:
    scene = SphereScene()
    camera = scene.training_cameras[0]
    points, colours = backproject(scene.render(camera), camera)
    assert len(points) > 100
    assert surface_error(points).max() < 1e-4
    assert np.allclose(colours, [0.9, 0.2, 0.1], atol=1e-6)


def test_point_cloud_reaches_the_requested_count_and_stays_on_the_surface() -> None:
    points, colours = point_cloud(SphereScene(), num_points=5000)
    assert len(points) == len(colours) == 5000
    assert surface_error(points).max() < 1e-3
    # Points cover the sphere from every side, not one view.
    directions = (points - CENTRE) / RADIUS
    assert np.all(np.abs(directions.mean(axis=0)) < 0.3)


def test_tsdf_mesh_is_the_sphere_in_the_scene_frame() -> None:
    vertices, faces, colours = tsdf_mesh(SphereScene(), resolution=48)
    assert len(faces) > 500 and colours.shape == vertices.shape
    voxel = (2 * RADIUS * 1.1) / 48
    error = surface_error(vertices)
    assert np.median(error) < 0.5 * voxel and np.mean(error < 1.5 * voxel) > 0.95
    assert np.linalg.norm(vertices.mean(axis=0) - CENTRE) < 0.1 * RADIUS
    assert np.mean(np.abs(colours - [0.9, 0.2, 0.1]).max(axis=1) < 0.05) > 0.9


def test_ply_point_cloud_layout() -> None:
    points = np.array([[1.0, 2.0, 3.0], [-1.5, 0.0, 2.5]], np.float32)
    data = point_cloud_ply(points, np.array([[1.0, 0.0, 0.5], [0.0, 1.0, 0.0]]))
    cloud = trimesh.load(io.BytesIO(data), file_type="ply")
    assert np.allclose(cloud.vertices, points)
    assert cloud.colors[:, :3].tolist() == [[255, 0, 128], [0, 255, 0]]


@pytest.mark.parametrize("file_format", ["ply", "obj", "glb"])
def test_mesh_formats_keep_vertex_colours(file_format: str) -> None:
    vertices = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1]], float)
    faces = np.array([[0, 1, 2], [0, 1, 3], [0, 2, 3], [1, 2, 3]])
    colours = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [0.5, 0.5, 0.5]], float)  # sRGB
    data = mesh_bytes(vertices, faces, colours, file_format, name="m")
    if file_format == "obj":  # an OBJ travels in a zip (with its texture, when it has one)
        data = zipfile.ZipFile(io.BytesIO(data)).read("m.obj")
    loaded = trimesh.load(io.BytesIO(data), file_type=file_format, process=False, force="mesh")
    expected = vertices @ SCENE_TO_GLTF.T if file_format == "glb" else vertices
    assert np.allclose(np.asarray(loaded.vertices), expected)
    assert len(loaded.faces) == 4
    # glTF's vertex colours are linear (sRGB 0.5 is 0.214), PLY's and OBJ's are sRGB as given
    stored = srgb_to_linear(colours) if file_format == "glb" else colours
    assert (
        np.asarray(loaded.visual.vertex_colors)[:, :3].tolist() == (stored * 255 + 0.5).astype(int).tolist()
    )


def test_without_specks_drops_detached_parts_smaller_than_the_band() -> None:
    """Three detached spheres, each its own colour: a resolved one of diagonal 2·√3·0.3 ≈ 1.04 stays
    beside the largest, a speck of diagonal ≈ 0.17 goes; colours stay with their vertices."""
    import open3d as o3d

    parts = [(np.zeros(3), 1.0, (1.0, 0.0, 0.0)), ((3.0, 0, 0), 0.3, (0.0, 1.0, 0.0))]
    parts.append(((0, 3.0, 0), 0.05, (0.0, 0.0, 1.0)))
    mesh = o3d.geometry.TriangleMesh()
    for centre, radius, colour in parts:
        sphere = trimesh.creation.icosphere(subdivisions=2, radius=radius)
        part = o3d.geometry.TriangleMesh(
            o3d.utility.Vector3dVector(sphere.vertices + np.asarray(centre)),
            o3d.utility.Vector3iVector(sphere.faces),
        )
        part.paint_uniform_color(colour)
        mesh += part
    kept = without_specks(mesh, min_extent=0.5)
    vertices, colours = np.asarray(kept.vertices), np.asarray(kept.vertex_colors)
    assert len(kept.triangles) == 2 * 320 and len(vertices) == 2 * 162
    assert np.all(vertices[:, 1] < 1.5)  # nothing of the speck at y = 3
    red = colours[:, 0] == 1.0
    assert np.allclose(np.linalg.norm(vertices[red], axis=1), 1.0, atol=0.02)
    assert np.allclose(np.linalg.norm(vertices[~red] - [3.0, 0, 0], axis=1), 0.3, atol=0.01)
    # However large the band, the largest part stays.
    largest = without_specks(mesh, min_extent=100.0)
    assert len(largest.triangles) == 320 and np.all(np.asarray(largest.vertex_colors)[:, 0] == 1.0)


def test_background_beyond_the_camera_rig_is_cropped_and_not_confirmed() -> None:
    scene = SphereScene(sky_depth=60.0)
    cropped, _ = point_cloud(scene, num_points=4000)
    assert surface_error(cropped).max() < 1e-3
    # Without the crop the "sky" (each view's own backdrop at z = 60, most of every view) is still not
    # exported: no other view sees it at the same depth (export/backproject.py multi_view_agreement).
    everything, _ = point_cloud(scene, num_points=4000, crop=False)
    assert np.mean(surface_error(everything) > 1.0) < 0.01
    vertices, _, _ = tsdf_mesh(scene, resolution=32)
    assert np.median(surface_error(vertices)) < 2 * RADIUS / 32


class BlurredSphereScene(SphereScene):
    """The sphere as a NeRF renders it (its depth off by up to 2%, varying over the image), with the
    capture's exact depth held (`EditSession.held_depth`), released on the left third of each view (an
    edit changed the shape there)."""

    def render(self, camera: CameraSpec) -> RenderResult:
        exact = super().render(camera)
        cols = np.arange(camera.width)[None, :] / camera.width
        rows = np.arange(camera.height)[:, None] / camera.height
        error = 1.0 + 0.02 * np.sin(11.0 * cols + 7.0 * rows)
        return RenderResult(exact.rgb, (exact.depth * error).astype(np.float32), exact.accumulation)

    def held_depth(self, index: int) -> np.ndarray:
        camera = self.training_cameras[index]
        depth = SphereScene.render(self, camera).depth.copy()
        depth[:, : depth.shape[1] // 3] = 0.0
        return depth


def test_pixels_showing_their_captured_surface_are_put_on_it() -> None:
    """Where the captured depth holds and the NeRF's surface is within MOVED_DEPTH of it, a point is the
    captured one; the released third keeps the NeRF's own depth."""
    scene = BlurredSphereScene()
    camera = scene.training_cameras[0]
    blurred = SphereScene(views=1).render(camera)  # exact, for reference
    render = scene.render(camera)
    world, keep = surface_pixels(render, camera)
    view = SurfaceView(camera, render, world, keep)
    on_captured_surface(view, scene.held_depth(0))
    depth = np.asarray(view.render.depth)
    released = np.zeros_like(keep)
    released[:, : camera.width // 3] = True
    inner = keep & ~released
    assert inner.sum() > 100
    assert np.median(np.abs(depth / blurred.depth - 1)[inner]) < 1e-3
    assert np.median(np.abs(render.depth / blurred.depth - 1)[inner]) > 5e-3
    np.testing.assert_allclose(depth[released], render.depth[released])  # the NeRF's own
    np.testing.assert_allclose(view.world, world_points(camera, depth), atol=1e-5)
    assert np.array_equal(view.keep, keep)  # opacity still decides what is surface


def test_a_surface_farther_than_moved_depth_from_the_captured_one_keeps_the_nerfs_depth() -> None:
    camera = SphereScene(views=1).training_cameras[0].resized(4, 1)
    captured = np.array([[2.0, 2.0, 2.0, 0.0]], np.float32)
    nerf = np.array([[2.0 * (1 + 0.9 * MOVED_DEPTH), 2.0 * (1 + 1.1 * MOVED_DEPTH), 1.0, 3.0]], np.float32)
    render = RenderResult(np.zeros((1, 4, 3), np.float32), nerf, np.ones((1, 4), np.float32))
    keep = np.array([[True, True, True, True]])
    view = SurfaceView(camera, render, world_points(camera, nerf), keep)
    on_captured_surface(view, captured)
    np.testing.assert_allclose(view.render.depth, [[2.0, nerf[0, 1], 1.0, 3.0]])


def test_the_point_cloud_and_the_mesh_of_a_blurred_nerf_land_on_the_captured_surface() -> None:
    blurred = BlurredSphereScene()
    unsnapped = type("Unsnapped", (BlurredSphereScene,), {"held_depth": lambda self, index: None})()
    loose, _ = point_cloud(unsnapped, num_points=4000)
    points, _ = point_cloud(blurred, num_points=4000)
    # Two thirds of each view are held: most points are on the sphere to the resampling's error.
    assert np.percentile(surface_error(loose), 60) > 0.02 * RADIUS
    assert np.percentile(surface_error(points), 60) < 0.005 * RADIUS
    loose_mesh, _, _ = tsdf_mesh(unsnapped, resolution=96)
    mesh, _, _ = tsdf_mesh(blurred, resolution=96)
    assert np.median(surface_error(mesh)) < 0.75 * np.median(surface_error(loose_mesh))


def test_masked_only_keeps_only_what_the_masks_cover() -> None:
    """The masks cover the sphere's upper cap: the export keeps that and nothing else (the sky neither)."""
    scene = MaskedSphereScene(sky_depth=60.0)
    everything, _ = point_cloud(scene, num_points=4000, crop=False)
    assert np.mean(everything[:, 1] < CENTRE[1] - 0.3) > 0.1  # without it, the lower half and the sky
    points, colours = point_cloud(scene, num_points=4000, crop=False, masked_only=True)
    assert len(points) > 1000 and np.allclose(colours, [0.9, 0.2, 0.1], atol=1e-6)
    assert surface_error(points).max() < 1e-3  # no sky
    # Renders are scaled from the training size, masks resized (nearest): the cut is within about one
    # training pixel's footprint on the sphere (~0.13 here).
    assert points[:, 1].min() > CENTRE[1] - 0.3
    assert np.mean(points[:, 1] > CENTRE[1]) > 0.97
    vertices, _, _ = tsdf_mesh(scene, resolution=32, masked_only=True)
    assert np.median(surface_error(vertices)) < 2 * RADIUS / 32
    assert np.mean(vertices[:, 1] > CENTRE[1] - 2 * RADIUS / 32) > 0.95


def test_masked_only_needs_masks() -> None:
    with pytest.raises(MasksMissingError, match="no masks"):
        point_cloud(SphereScene(), num_points=1000, masked_only=True)
    with pytest.raises(MasksMissingError, match="no masks"):
        tsdf_mesh(SphereScene(), resolution=16, masked_only=True)


def test_resize_mask_is_nearest_on_pixel_centres() -> None:
    mask = np.array([[1, 0, 0], [0, 1, 1]], bool)
    assert resize_mask(mask, 2, 3) is not None and (resize_mask(mask, 2, 3) == mask).all()
    up = resize_mask(mask, 4, 6)
    assert (up == np.repeat(np.repeat(mask, 2, axis=0), 2, axis=1)).all()
    assert (resize_mask(up, 2, 3) == mask).all()
