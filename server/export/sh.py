"""Real spherical harmonics as the reference 3D Gaussian Splatting evaluates them (its `sh_utils.eval_sh`).

A splat's colour seen along the unit direction `d` (from the camera centre to the splat, world frame) is
`0.5 + sum_k basis_k(d) * coefficient_k`; coefficient 0 is `f_dc`, the others are `f_rest`. The constants
and signs must be exactly the reference's, or every 3DGS viewer shows other colours than the ones fitted.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from in2n_protocol.wire import EXPORT_PARAMS

SH_C0 = 0.28209479177387814
SH_C1 = 0.4886025119029199
SH_C2 = (
    1.0925484305920792,
    -1.0925484305920792,
    0.31539156525252005,
    -1.0925484305920792,
    0.5462742152960396,
)
SH_C3 = (
    -0.5900435899266435,
    2.890611442640554,
    -0.4570457994644658,
    0.3731763325901154,
    -0.4570457994644658,
    1.445305721320277,
    -0.5900435899266435,
)
MAX_SH_DEGREE = EXPORT_PARAMS["sh_degree"].max  # the basis above goes up to degree 3
DEFAULT_SH_DEGREE = EXPORT_PARAMS["sh_degree"].default
"""Degree 3, the reference 3DGS layout (45 `f_rest` values, which the KIRI add-on's older importer needs).
Fitting the bands to every view that sees a splat, instead of taking its own pixel's colour, was measured
in Blender 5.3 at held-out cameras (splats benchmark, third round): degree 0 / 1 / 3 gave 32.04 / 33.83 /
34.27 dB on `tabletop`, 34.39 / 34.67 / 34.81 on `object`, 25.63 / 26.24 / 26.26 on the edited pair, 35.55 /
36.07 / 35.98 on `artist`, 24.90 / 24.84 / 24.85 on `room`. It costs file size (59 floats a splat
instead of 14) and a few seconds of fitting."""


def coefficient_count(degree: int) -> int:
    """Coefficients per colour channel for `degree`: (degree + 1)^2, f_dc included."""
    if not 0 <= degree <= MAX_SH_DEGREE:
        raise ValueError(f"spherical-harmonics degree must be 0..{MAX_SH_DEGREE}, got {degree}")
    return (degree + 1) ** 2


def rest_count(degree: int) -> int:
    """`f_rest` properties in a PLY of this degree: 3 channels x ((degree + 1)^2 - 1)."""
    return 3 * (coefficient_count(degree) - 1)


def sh_basis(directions: Any, degree: int) -> Any:
    """The basis [..., (degree + 1)^2] at unit `directions` [..., 3], in the reference's order and signs.

    NumPy in, NumPy out (float64); a torch tensor in, a tensor out (its dtype, differentiable): the
    splats' fit and their refinement share this one definition."""
    count = coefficient_count(degree)
    is_tensor = type(directions).__module__.startswith("torch")
    d = directions if is_tensor else np.asarray(directions, dtype=np.float64)
    x, y, z = d[..., 0], d[..., 1], d[..., 2]
    terms = [x * 0 + SH_C0]
    if degree >= 1:
        terms += [-SH_C1 * y, SH_C1 * z, -SH_C1 * x]
    if degree >= 2:
        xx, yy, zz = x * x, y * y, z * z
        terms += [
            SH_C2[0] * x * y,
            SH_C2[1] * y * z,
            SH_C2[2] * (2 * zz - xx - yy),
            SH_C2[3] * x * z,
            SH_C2[4] * (xx - yy),
        ]
    if degree >= 3:
        terms += [
            SH_C3[0] * y * (3 * xx - yy),
            SH_C3[1] * x * y * z,
            SH_C3[2] * y * (4 * zz - xx - yy),
            SH_C3[3] * z * (2 * zz - 3 * xx - 3 * yy),
            SH_C3[4] * x * (4 * zz - xx - yy),
            SH_C3[5] * z * (xx - yy),
            SH_C3[6] * x * (xx - 3 * yy),
        ]
    if is_tensor:
        import torch

        basis = torch.stack(terms, dim=-1)
    else:
        basis = np.stack(terms, axis=-1)
    assert basis.shape[-1] == count
    return basis
