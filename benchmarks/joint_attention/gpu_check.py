"""The GPU check of joint attention: CUDA-only tests, edit-call, UNet-pass and IDU-step times, peak memory.

    .venv/bin/python -m benchmarks.joint_attention.gpu_check [--out DIR] [--sizes 512] [--batches 1 2 5 8]

On a CUDA machine: runs the tests marked `gpu` (pytest -m gpu tests/editor tests/engine), then for the bundled
demo editor (and InstructPix2Pix itself when its weights are on the machine) at 512 px in fp16, for each batch
size and joint mode: one edit call (20 DDIM steps from 0.98, so every call does the same work), one UNet pass
of its 3 x k rows, and the peak GPU memory of the call (`torch.cuda.max_memory_allocated`); then one IDU step
(tier in2n-tiny: fp16 editor, 4096 rays, no LPIPS, so no AlexNet weights are needed offline; a procedural
scene at the same size) per batch size with joint attention off and "all", and one
plain NeRF step. A configuration that runs out of memory is reported as such. The figures are what
benchmarks/fusion/report.py assumes (`GPU_UNET_PASS_S`, `GPU_FREE_ROWS`, `GPU_VAE_PER_VIEW_S`,
`GPU_NERF_STEP_S`): the summary prints them in that form. Writes gpu_check.json to `--out` ($OUT if set).

Without CUDA it runs a smoke version on the CPU (32 px, 2 DDIM steps, batches 1 and 2, tier in2n-cpu, no
pytest) so the script itself stays tested.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from in2n_server.editor.ip2p import EditSettings, InstructPix2PixEditor
from in2n_server.editor.joint_attention import MAX_JOINT_VIEWS, attention_weight_bytes, joint_attention
from in2n_server.editor.loading import describe_model, editor_dtype, load_ip2p_pipeline

REPO = Path(__file__).resolve().parents[2]
MODES = ("off", "anchor", "all")
INSTRUCTION = "make it blue"


@dataclasses.dataclass(frozen=True)
class Plan:
    """What to measure on this machine."""

    device: torch.device
    sizes: tuple[int, ...]
    batches: tuple[int, ...]
    steps: int
    models: tuple[str, ...]
    tier: str
    run_tests: bool


def make_plan(args: argparse.Namespace) -> Plan:
    cuda = torch.cuda.is_available()
    models = ["demo"] + (["timbrooks/instruct-pix2pix"] if cuda and describe_model(None)[0] else [])
    return Plan(
        device=torch.device("cuda" if cuda else "cpu"),
        sizes=tuple(args.sizes or ([512] if cuda else [32])),
        batches=tuple(args.batches or ([1, 2, 5, 8] if cuda else [1, 2])),
        steps=20 if cuda else 2,
        models=tuple(models),
        tier="in2n-tiny" if cuda else "in2n-cpu",  # in2n-tiny: no LPIPS, so no AlexNet download
        run_tests=cuda and not args.skip_tests,
    )


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(device: torch.device, work: Callable[[], Any], repeats: int = 1) -> tuple[float, float | None]:
    """(median seconds of `repeats` runs after one warm-up, peak GiB allocated by a run on CUDA)."""
    work()
    synchronize(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        work()
        synchronize(device)
        seconds.append(time.perf_counter() - started)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else None
    return statistics.median(seconds), peak


def guarded(measure: Callable[..., dict[str, Any]], *args: Any) -> dict[str, Any]:
    """`measure(*args)`, or what stopped it (out of memory is a result here, not a failure)."""
    try:
        return measure(*args)
    except torch.OutOfMemoryError as error:
        torch.cuda.empty_cache()
        return {"error": "out of memory", "detail": str(error).splitlines()[0]}
    except RuntimeError as error:
        return {"error": type(error).__name__, "detail": str(error).splitlines()[0]}


def edit_call(editor: InstructPix2PixEditor, plan: Plan, size: int, views: int, mode: str) -> dict[str, Any]:
    """One batched edit call of `views` views in `mode`: seconds and peak memory."""
    editor.settings = dataclasses.replace(editor.settings, joint_attention=mode)
    images = [torch.rand(size, size, 3, device=plan.device) for _ in range(views)]
    indices = list(range(views))
    seconds, peak = timed(plan.device, lambda: editor.edit_batch(images, images, INSTRUCTION, indices))
    return {"seconds": seconds, "peak_gib": peak, "per_view_s": seconds / views}


def unet_pass(editor: InstructPix2PixEditor, plan: Plan, size: int, views: int, mode: str) -> dict[str, Any]:
    """One UNet forward of the call's 3 x `views` rows in `mode` (median of 3)."""
    side = size // editor.downscale
    channels = editor.unet.config.in_channels
    sample = torch.randn(3 * views, channels, side, side, device=plan.device, dtype=editor.dtype)
    timestep = torch.full((3 * views,), 500, device=plan.device)
    context = editor.text_embeddings(INSTRUCTION).repeat_interleave(views, dim=0)

    def forward() -> None:
        with torch.no_grad(), joint_attention(editor.unet, mode, views):
            editor.unet(sample, timestep, encoder_hidden_states=context)

    seconds, peak = timed(plan.device, forward, repeats=3)
    return {"seconds": seconds, "peak_gib": peak, "rows": 3 * views}


def vae_per_view(editor: InstructPix2PixEditor, plan: Plan, size: int) -> float:
    """Encode a render and an original and decode one latent: a view's VAE work in an edit."""
    image = torch.rand(2, 3, size, size, device=plan.device, dtype=editor.dtype) * 2 - 1

    def work() -> None:
        with torch.no_grad():
            latents = editor.vae.encode(image).latent_dist.mode()
            editor.vae.decode(latents[:1])

    return timed(plan.device, work, repeats=3)[0]


def editor_figures(model: str, plan: Plan) -> dict[str, Any]:
    dtype = editor_dtype(plan.device, half_precision=True)
    pipe = load_ip2p_pipeline(model, plan.device, dtype)
    settings = EditSettings(diffusion_steps=plan.steps, lower_bound=0.98, upper_bound=0.98)
    editor = InstructPix2PixEditor(pipe, settings, seed=0)
    figures: dict[str, Any] = {"dtype": str(dtype), "sizes": {}}
    for size in plan.sizes:
        rows: dict[str, Any] = {"vae_per_view_s": vae_per_view(editor, plan, size), "calls": {}, "passes": {}}
        for views in plan.batches:
            for mode in MODES if views > 1 else ("off",):
                key = f"{views}-{mode}"
                rows["calls"][key] = guarded(edit_call, editor, plan, size, views, mode)
                rows["passes"][key] = guarded(unet_pass, editor, plan, size, views, mode)
                print(f"{model} {size}px {key}: {rows['calls'][key]} | {rows['passes'][key]}", flush=True)
        figures["sizes"][str(size)] = rows
    del editor, pipe  # free the model before the next one loads
    if plan.device.type == "cuda":
        torch.cuda.empty_cache()
    return figures


def idu_steps(plan: Plan, size: int, scratch: Path) -> dict[str, Any]:
    """A step of the IDU that edits k views (per batch size; joint off and "all"), and a plain NeRF step."""
    from in2n_server.engine.session import EditSession
    from in2n_server.engine.types import EditParams
    from in2n_server.samples.procedural import generate_scene

    scene = generate_scene(scratch / "scene", num_views=8, size=size)
    figures: dict[str, Any] = {}
    for views in plan.batches:
        params = EditParams(
            instruction=INSTRUCTION,
            tier=plan.tier,
            model="demo",
            base_iterations=0,
            edit_iterations=12,
            edit_rate=2,  # an edit every other step: the steps between are plain NeRF steps
            edit_count=views,
            diffusion_steps=plan.steps,
            optimize_cameras=False,
        )
        session = EditSession.create(scene.root, scratch / f"idu-{views}", params, device=str(plan.device))
        session.step()  # loads the editor and edits
        for mode in MODES if views > 1 else ("off",):
            editor = session.pipeline.get_editor()
            editor.settings = dataclasses.replace(editor.settings, joint_attention=mode)
            figures[f"{views}-{mode}"] = guarded(_step_pair, session, plan)
            print(f"IDU step {size}px {views}-{mode}: {figures[f'{views}-{mode}']}", flush=True)
    return figures


def _step_pair(session: Any, plan: Plan) -> dict[str, Any]:
    """Time one plain NeRF step, then one step that edits (the schedule alternates them)."""
    synchronize(plan.device)
    started = time.perf_counter()
    session.step()
    synchronize(plan.device)
    plain = time.perf_counter() - started
    if plan.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(plan.device)
    started = time.perf_counter()
    session.step()
    synchronize(plan.device)
    editing = time.perf_counter() - started
    peak = torch.cuda.max_memory_allocated(plan.device) / 2**30 if plan.device.type == "cuda" else None
    return {"nerf_step_s": plain, "edit_step_s": editing, "peak_gib": peak}


def cuda_tests() -> dict[str, Any]:
    command = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "tests/editor", "tests/engine"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    return {"command": " ".join(command[1:]), "returncode": done.returncode, "tail": done.stdout[-2000:]}


def assumptions(figures: dict[str, Any], size: int) -> dict[str, Any]:
    """The report's per-unit costs from the demo editor's measurements (real IP2P's when measured)."""
    model = "timbrooks/instruct-pix2pix" if "timbrooks/instruct-pix2pix" in figures["editors"] else "demo"
    rows = figures["editors"][model]["sizes"][str(size)]
    passes = {k: v["seconds"] for k, v in rows["passes"].items() if "seconds" in v and k.endswith("-off")}
    one = passes.get("1-off")
    free = max((int(k.split("-")[0]) * 3 for k, s in passes.items() if one and s <= 1.1 * one), default=3)
    nerf = [v["nerf_step_s"] for v in figures.get("idu_steps", {}).values() if "nerf_step_s" in v]
    return {
        "model": model,
        "GPU_UNET_PASS_S": one,
        "GPU_FREE_ROWS": free,
        "GPU_VAE_PER_VIEW_S": rows["vae_per_view_s"],
        "GPU_NERF_STEP_S": statistics.median(nerf) if nerf else None,
    }


def memory_estimates() -> dict[str, Any]:
    """attention_weight_bytes at SD 1.5's largest self-attention at 512 px (4096 tokens, 8 heads, fp16)."""
    return {
        f"{mode}-{views}": attention_weight_bytes(mode, views, 4096, 8) / 2**30
        for mode in MODES
        for views in (1, 2, 5, 8)
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_out = Path(os.environ.get("OUT", REPO / "benchmarks" / "results"))
    parser.add_argument("--out", type=Path, default=default_out, help="JSON file to write")
    parser.add_argument("--sizes", type=int, nargs="+", help="image sides to time, px")
    parser.add_argument("--batches", type=int, nargs="+", help="views per call to time")
    parser.add_argument("--skip-tests", action="store_true", help="do not run the CUDA-only tests first")
    parser.add_argument("--skip-idu", action="store_true", help="do not time an IDU step")
    args = parser.parse_args(argv)
    plan = make_plan(args)
    figures: dict[str, Any] = {
        "device": torch.cuda.get_device_name() if plan.device.type == "cuda" else "cpu",
        "torch": torch.__version__,
        "max_joint_views": MAX_JOINT_VIEWS,
        "estimated_attention_gib_sd15_512": memory_estimates(),
    }
    if plan.run_tests:
        figures["cuda_tests"] = cuda_tests()
        print(f"CUDA tests: {figures['cuda_tests']['tail'][-300:]}", flush=True)
    figures["editors"] = {model: editor_figures(model, plan) for model in plan.models}
    if not args.skip_idu:
        with tempfile.TemporaryDirectory(prefix="gpu-check-") as scratch:
            figures["idu_steps"] = idu_steps(plan, plan.sizes[0], Path(scratch))
    figures["assumptions"] = assumptions(figures, plan.sizes[0])
    args.out.mkdir(parents=True, exist_ok=True)
    name = "gpu_check.json" if plan.device.type == "cuda" else "gpu_check_cpu_smoke.json"
    (args.out / name).write_text(json.dumps(figures, indent=1))
    print(json.dumps(figures["assumptions"], indent=1))
    print(f"wrote {args.out / name}")


if __name__ == "__main__":
    main()
