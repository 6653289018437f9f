"""The splats' refinement: the CPU rasteriser against gsplat's pure-torch projection and a brute-force
compositor, its gradients, the hole fill, the cameras between the training ones, and a refinement that
brings wrong splats back to what the views show."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from test_export_geometry import CENTRE, RADIUS, SphereScene, look_at

from in2n_server.engine.types import CameraSpec
from in2n_server.export import rasterize as rz
from in2n_server.export import refine as rf
from in2n_server.export.coverage import BETWEEN_MAX_PER_CAMERA, BETWEEN_SPAN, between_cameras, between_count
from in2n_server.export.pointcloud import sized_surface_views
from in2n_server.export.splats import Splats, rotations_to, splats, splats_from_views


def camera_at(position, target=(0.0, 0.0, 0.0), size=(40, 32), focal=36.0) -> CameraSpec:
    pose = look_at(np.asarray(position, float), np.asarray(target, float), np.array([0.0, 1.0, 0.0]))
    width, height = size
    return CameraSpec(focal, focal * 1.05, width / 2 + 0.3, height / 2 - 0.2, width, height, pose)


def random_gaussians(count: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    generator = torch.Generator().manual_seed(seed)
    means = torch.randn(count, 3, generator=generator) * 0.6
    quaternions = torch.randn(count, 4, generator=generator)
    sigmas = torch.exp(torch.randn(count, 3, generator=generator) * 0.4 - 3.0)
    return means, quaternions, sigmas


def test_projection_matches_gsplats_reference() -> None:
    from gsplat.cuda._torch_impl import _fully_fused_projection

    means, quaternions, sigmas = random_gaussians(3000)
    camera = camera_at((0.5, 0.4, 3.0))
    viewmat, camera_matrix = rz.view_matrix(camera), rz.intrinsics(camera)
    covars = rz.covariances(quaternions, sigmas)
    mine = rz.project(means, covars, viewmat, camera_matrix, camera.width, camera.height)
    radii, means2d, depths, conics, compensations = _fully_fused_projection(
        means, covars, viewmat[None], camera_matrix[None], camera.width, camera.height, eps2d=rz.EPS_2D,
        calc_compensations=True,
    )  # fmt: skip
    assert torch.equal(mine.radii, radii[0].long())
    seen = mine.radii > 0
    assert 500 < int(seen.sum()) < 3000  # some in view, some not
    torch.testing.assert_close(mine.means2d[seen], means2d[0][seen], rtol=1e-5, atol=1e-4)
    torch.testing.assert_close(mine.conics[seen], conics[0][seen], rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(mine.depths, depths[0])
    torch.testing.assert_close(mine.compensations[seen], compensations[0][seen], rtol=1e-4, atol=1e-5)


def test_covariances_follow_the_quaternion_convention() -> None:
    quarter_turn_about_z = torch.tensor([[math.cos(math.pi / 4), 0.0, 0.0, math.sin(math.pi / 4)]])
    covariance = rz.covariances(quarter_turn_about_z, torch.tensor([[3.0, 1.0, 0.5]]))[0]
    torch.testing.assert_close(covariance, torch.diag(torch.tensor([1.0, 9.0, 0.25])), atol=1e-5, rtol=0)


def brute_force(projected: rz.Projected, opacities, colours, width: int, height: int) -> np.ndarray:
    """Every pixel against every Gaussian, sorted by depth, composited front to back (float64)."""
    means = projected.means2d.detach().double().numpy()
    conics = projected.conics.detach().double().numpy()
    weights = (opacities * projected.compensations).detach().double().numpy()
    colours = colours.detach().double().numpy()
    order = np.argsort(projected.depths.detach().numpy(), kind="stable")
    image = np.zeros((height, width, colours.shape[1] + 1))
    for row in range(height):
        for col in range(width):
            light = 1.0
            for g in order:
                if projected.radii[g] == 0:
                    continue
                dx, dy = col + 0.5 - means[g, 0], row + 0.5 - means[g, 1]
                power = -0.5 * (conics[g, 0] * dx * dx + conics[g, 2] * dy * dy) - conics[g, 1] * dx * dy
                alpha = min(rz.MAX_ALPHA, weights[g] * math.exp(power))
                if power > 0 or alpha < rz.MIN_ALPHA:
                    continue
                image[row, col, :-1] += light * alpha * colours[g]
                image[row, col, -1] += light * alpha
                light *= 1 - alpha
    return image


def test_compositing_matches_a_brute_force_reference() -> None:
    means, quaternions, sigmas = random_gaussians(60, seed=1)
    camera = camera_at((0.2, -0.3, 2.5), size=(24, 20), focal=20.0)
    projected = rz.project(
        means, rz.covariances(quaternions, sigmas * 3), rz.view_matrix(camera), rz.intrinsics(camera), 24, 20
    )
    opacities = torch.rand(60, generator=torch.Generator().manual_seed(2)) * 0.9 + 0.05
    colours = torch.rand(60, 3, generator=torch.Generator().manual_seed(3))
    image, alpha = rz.rasterize(projected, opacities, colours, 24, 20)
    expected = brute_force(projected, opacities, colours, 24, 20)
    assert expected[..., -1].max() > 0.9 and (expected[..., -1] < 0.01).any()  # overlaps and empty pixels
    np.testing.assert_allclose(image.numpy(), expected[..., :-1], atol=1e-5)
    np.testing.assert_allclose(alpha.numpy(), expected[..., -1], atol=1e-5)


def test_the_nearer_gaussian_covers_the_farther_whatever_their_order() -> None:
    camera = camera_at((0.0, 0.0, 4.0), size=(9, 9), focal=9.0)
    means = torch.tensor([[0.0, 0.0, -1.0], [0.0, 0.0, 1.0]])  # the second is nearer the camera
    quaternions = torch.tensor([[1.0, 0.0, 0.0, 0.0]] * 2)
    covars = rz.covariances(quaternions, torch.full((2, 3), 2.0))
    projected = rz.project(means, covars, rz.view_matrix(camera), rz.intrinsics(camera), 9, 9)
    image, alpha = rz.rasterize(projected, torch.tensor([1.0, 1.0]), torch.eye(3)[:2], 9, 9)
    assert projected.depths[1] < projected.depths[0]
    # Alpha 0.99 (the cap) at the centre for both: the near one's colour, then 1% of the far one's.
    np.testing.assert_allclose(image[4, 4].numpy(), [0.99 * 0.01, 0.99, 0.0], atol=1e-3)
    assert alpha[4, 4] == pytest.approx(1 - 0.01 * 0.01, abs=1e-4)


def test_gradients_match_finite_differences() -> None:
    means, quaternions, sigmas = random_gaussians(12, seed=4)
    camera = camera_at((0.0, 0.2, 2.2), size=(12, 10), focal=10.0)
    viewmat, camera_matrix = rz.view_matrix(camera).double(), rz.intrinsics(camera).double()
    opacities = torch.full((12,), 0.6, dtype=torch.float64, requires_grad=True)
    colours = torch.rand(12, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    means = means.double().requires_grad_(True)

    def loss(means: torch.Tensor, opacities: torch.Tensor) -> torch.Tensor:
        covars = rz.covariances(quaternions.double(), sigmas.double() * 4)
        projected = rz.project(means, covars, viewmat, camera_matrix, 12, 10)
        image, alpha = rz.rasterize(projected, opacities, colours, 12, 10)
        return (image * torch.linspace(0, 1, 3, dtype=torch.float64)).sum() + (alpha**2).sum()

    assert torch.autograd.gradcheck(loss, (means, opacities), eps=1e-6, atol=1e-4)


def flat_splats(positions: np.ndarray, colours: np.ndarray, sigma: float) -> Splats:
    count = len(positions)
    normals = np.tile([[0.0, 0.0, 1.0]], (count, 1))
    return Splats(
        positions=positions.astype(np.float32),
        normals=normals.astype(np.float32),
        colors=colours.astype(np.float32),
        opacities=np.full(count, 0.95, np.float32),
        sigmas=np.tile([[sigma, sigma, 0.2 * sigma]], (count, 1)).astype(np.float32),
        rotations=rotations_to(normals),
        sh_rest=np.zeros((count, 3, 3), np.float32),
    )


def test_refinement_brings_wrong_splats_back_to_what_the_views_show() -> None:
    """Targets rendered from a known set of splats at six cameras; the same splats with their colours,
    opacities and sizes spoiled are refined against them and reproduce a seventh camera."""
    grid = np.stack(np.meshgrid(np.linspace(-1, 1, 14), np.linspace(-1, 1, 14), [0.0]), -1).reshape(-1, 3)
    colours = 0.5 + 0.4 * np.stack(
        [np.sin(3 * grid[:, 0]), np.cos(2 * grid[:, 1]), grid[:, 0] * grid[:, 1]], -1
    )
    truth = flat_splats(grid, colours, 0.09)
    cameras = [
        camera_at((3 * math.sin(a), 0.5, 3 * math.cos(a)), size=(32, 32)) for a in np.linspace(-0.8, 0.8, 7)
    ]
    held_out = cameras.pop(3)

    def target(camera: CameraSpec) -> rf.Target:
        with torch.no_grad():
            image, alpha = rf.render(rf.SplatParameters(truth), camera)
        straight = image / alpha.clamp_min(1e-6)[..., None]
        return rf.Target(camera, straight.clamp(0, 1), alpha)

    spoiled = flat_splats(grid, np.full_like(colours, 0.5), 0.05)
    spoiled.opacities[:] = 0.5

    def error(gaussians: Splats) -> float:
        wanted = target(held_out)
        with torch.no_grad():
            image, alpha = rf.render(rf.SplatParameters(gaussians), held_out)
        return float(torch.abs(image - wanted.rgb * wanted.accumulation[..., None]).mean())

    refined = rf.refine(spoiled, [target(camera) for camera in cameras], steps=300, device="cpu")
    assert error(truth) < 1e-6
    assert error(refined) < 0.25 * error(spoiled)
    assert len(refined) == len(spoiled)


def test_holes_are_the_candidate_pixels_the_splats_leave_open() -> None:
    scene = SphereScene()
    views = sized_surface_views(scene, 3000)
    gaussians = splats_from_views(views, 3000, sh_degree=0)
    holes = rf.hole_views(gaussians, views)
    candidate = sum(int(view.candidate.sum()) for view in views)
    assert sum(int(view.keep.sum()) for view in holes) < 0.05 * candidate  # a well covered sphere
    upper = gaussians.positions[:, 1] > CENTRE[1]  # no splat on the lower half, front or back
    few = gaussians.take(upper)
    opened = rf.hole_views(few, views)
    lower_seen = opened_lower = 0
    for view, hole in zip(views, opened, strict=True):
        assert not (hole.keep & ~view.candidate).any()  # only where the NeRF shows surface
        lower = view.candidate & (view.world[..., 1] < CENTRE[1] - 0.4 * RADIUS)  # beyond the upper discs
        lower_seen += int(lower.sum())
        opened_lower += int((lower & hole.keep).sum())
    # Not all: a ray from below through the lower front leaves the sphere through the upper back, whose
    # splats cover it (there, what the splats show is wrong but no hole).
    assert opened_lower > 0.75 * lower_seen
    heights = np.concatenate([view.world[hole.keep][:, 1] for view, hole in zip(views, opened, strict=True)])
    assert np.mean(heights < CENTRE[1] + 0.1 * RADIUS) > 0.97  # where the splats are missing (rims aside)


def test_a_refined_export_keeps_its_budget_and_fills_holes(monkeypatch: pytest.MonkeyPatch) -> None:
    scene = SphereScene()
    plain = splats(scene, num_points=2000, sh_degree=1, refine_steps=0)
    refined = splats(scene, num_points=2000, sh_degree=1, refine_steps=20)
    assert len(refined) <= 2000 and refined.sh_rest.shape[1:] == plain.sh_rest.shape[1:]
    assert np.abs(np.linalg.norm(refined.positions - CENTRE, axis=1) - RADIUS).max() < 0.05 * RADIUS


def test_between_cameras_sit_halfway_between_cameras_looking_the_same_way() -> None:
    ring = [camera_at((4 * math.sin(a), 0.0, 4 * math.cos(a))) for a in np.radians([0, 20, 40, 200])]
    between = between_cameras(ring, seed=0)
    assert len(between) == 3  # the camera looking back at the others has no neighbour within 60 degrees
    for camera in between:
        pose = np.asarray(camera.camera_to_world)
        centre = pose[:3, 3]
        chords = [4 * math.cos(math.radians(half)) for half in (10, 20)]  # a neighbour 20 or 40 degrees on
        assert min(abs(np.linalg.norm(centre) - chord) for chord in chords) < 1e-6
        forward = -pose[:3, 2]
        assert np.dot(forward, -centre / np.linalg.norm(centre)) > 0.999  # still looking at the centre
        assert np.allclose(pose[:3, :3] @ pose[:3, :3].T, np.eye(3), atol=1e-9)


def test_several_between_cameras_spread_along_the_way_to_neighbours() -> None:
    ring = [camera_at((4 * math.sin(a), 0.0, 4 * math.cos(a))) for a in np.radians([0, 20, 40])]
    centres = [np.asarray(camera.camera_to_world)[:3, 3] for camera in ring]
    between = between_cameras(ring, seed=1, per_camera=3)
    assert len(between) == 9
    fractions = np.linspace(*BETWEEN_SPAN, 3)
    for index in range(3):  # each camera's three: a quarter, half and three quarters of the way
        for fraction, camera in zip(fractions, between[3 * index : 3 * index + 3], strict=True):
            centre = np.asarray(camera.camera_to_world)[:3, 3]
            expected = [(1 - fraction) * centres[index] + fraction * other for other in centres]
            assert min(np.linalg.norm(centre - e) for e in expected) < 1e-9
            assert np.linalg.norm(centre - centres[index]) > 0.1  # on the way to another camera
            forward = -np.asarray(camera.camera_to_world)[:3, 2]
            assert np.dot(forward, -centre / np.linalg.norm(centre)) > 0.999  # still looking at the centre


def test_between_count_pays_for_rays_per_splat_within_its_bounds() -> None:
    small = [camera_at((0.0, 0.0, 4.0), size=(16, 16))] * 10  # 2,560 pixels
    large = [camera_at((0.0, 0.0, 4.0), size=(400, 400))] * 10
    assert between_count(large, 1000) == 1  # never none
    assert between_count(small, 1_000_000) == BETWEEN_MAX_PER_CAMERA
    assert 1 < between_count(small, 500) < BETWEEN_MAX_PER_CAMERA  # 24 rays a splat: 12,000 / 2,560
