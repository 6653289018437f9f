"""EditSession: the engine's Python API.

One session = one edit of one scene: a base reconstruction of the originals (skipped when a base
checkpoint is given), then the Iterative Dataset Update. All state lives in `workdir`, so a killed
process resumes where its last checkpoint left it, with every edited image:

    workdir/
      session.json          params, plan, phase, step (atomic writes)
      dataset/              the prepared dataset: its images are this edit's originals
      edited/NNNN.png       the newest edit of each view (written atomically as it is made)
      checkpoints/latest.pt model, optimizers, schedulers, IDU state, current images

Steps, progress and ETA count from this session's own start, never from a loaded checkpoint's step
(the original showed 148% and jumping ETAs after loading one). Optimizer and scheduler states travel
with checkpoints, so learning rates (the camera optimizer's included) continue instead of jumping.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from nerfstudio.cameras.cameras import Cameras, CameraType
from nerfstudio.engine.callbacks import TrainingCallbackAttributes, TrainingCallbackLocation
from nerfstudio.engine.optimizers import Optimizers
from PIL import Image

from ..editor.base import Editor
from ..editor.loading import recommended_settings
from ..fileio import write_bytes_atomic, write_json_atomic
from . import workdir as layout
from .bounded import configure_model
from .checkpoint import FORMAT_VERSION, atomic_save, find_checkpoint, load_checkpoint, model_state
from .dataset import (
    ALPHA_KEY,
    DEPTHS_MISSING,
    MASKS_MISSING,
    has_depths,
    has_masks,
    needs_masks,
    prepare_dataset,
    read_transforms,
)
from .edit_alpha import edited_mask
from .geometry import BOUNDS_KEY, NerfFrame, z_depth
from .method_configs import tier_config
from .pipeline import PIPELINE_FIELDS, In2NPipeline
from .types import CameraSpec, EditParams, EngineEvent, Phase, Progress, RenderResult

EventCallback = Callable[[EngineEvent], None]
EditorSource = Editor | Callable[[], Editor] | None


class TrainingDivergedError(RuntimeError):
    """The loss became NaN or infinite."""


def optimizer_stepped(scale_before: float, scale_after: float) -> bool:
    """Whether the grad scaler let the optimizers step (nerfstudio's Trainer guard).

    On mixed precision, a step whose gradients overflowed is skipped and the scaler lowers its scale;
    the learning-rate schedulers must then not step either, or they run ahead of the optimizers. A
    disabled scaler keeps a scale of 1.0, so every step counts.
    """
    return scale_after >= scale_before


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("CUDA was requested but no CUDA device is available; use --device cpu")
    return resolved


def _write_png_atomic(path: Path, image: np.ndarray) -> None:
    buffer = io.BytesIO()
    Image.fromarray((np.clip(image, 0, 1) * 255).round().astype(np.uint8)).save(buffer, format="PNG")
    write_bytes_atomic(path, buffer.getvalue())


def _read_png(path: Path, mode: str) -> torch.Tensor:
    with Image.open(path) as image:
        return torch.from_numpy(np.asarray(image.convert(mode), dtype=np.float32) / 255.0)


@dataclass
class _Plan:
    """How many steps each phase takes in this session, and the NeRF step it starts from."""

    base_steps: int
    edit_steps: int
    step_offset: int  # the NeRF step of a loaded base checkpoint (schedulers continue from it)

    @property
    def total(self) -> int:
        return self.base_steps + self.edit_steps

    def phase_at(self, step: int) -> Phase:
        if step < self.base_steps:
            return "base"
        return "edit" if step < self.total else "done"


class EditSession:
    """Base reconstruction, then the Iterative Dataset Update, one `step()` at a time (thread-safe)."""

    def __init__(
        self,
        workdir: Path,
        meta: dict[str, Any],
        *,
        editor: EditorSource,
        device: torch.device,
        on_event: EventCallback | None,
    ) -> None:
        self.workdir = Path(workdir)
        self.params = EditParams.from_dict(meta["params"])
        self.plan = _Plan(**meta["plan"])
        self.device = device
        self.on_event = on_event
        self._meta = meta
        self._lock = threading.RLock()
        self._step = 0
        self._losses: dict[str, float] = {}
        self._seconds_per_step: dict[str, float] = {}
        self._build(editor)

    # ----------------------------------------------------------------------------------------------
    # Construction

    @classmethod
    def create(
        cls,
        dataset_dir: Path,
        workdir: Path,
        params: EditParams,
        *,
        editor: EditorSource = None,
        device: str = "auto",
        base_checkpoint: Path | None = None,
        continue_from_edit: bool = False,
        on_event: EventCallback | None = None,
    ) -> EditSession:
        """Prepare `workdir` from a nerfstudio dataset dir (transforms.json + images) and open it.

        `editor` is an Editor, a zero-argument factory (called at the first edit), or None to load
        InstructPix2Pix from `params.model` when first needed. `base_checkpoint` is another session's
        workdir, a checkpoint file, or a nerfstudio run folder: the base phase is then skipped. With
        `continue_from_edit`, that session's edited images become this edit's originals, so edits stack.
        """
        if not params.instruction.strip():
            raise ValueError("instruction: must not be empty")
        tier_config(params.tier)  # validates the tier name before anything is written
        # The session's one resolution of the model-tuned values (a job's arrive resolved by its admission);
        # session.json stores them resolved, and the pipeline and the editor take them as they are.
        params = params.with_model_defaults(recommended_settings(params.model))
        workdir = Path(workdir)
        if layout.session_file(workdir).exists():
            raise FileExistsError(f"{workdir} already holds a session; use EditSession.resume")
        workdir.mkdir(parents=True, exist_ok=True)
        prepare_dataset(dataset_dir, workdir / "dataset", params.max_image_size)
        if needs_masks(params.edit_region, params.crop_to_mask) and not has_masks(
            read_transforms(workdir / "dataset")
        ):
            shutil.rmtree(workdir / "dataset")
            raise ValueError(f"edit_region: {MASKS_MISSING}")
        if params.warp_start and not has_depths(read_transforms(workdir / "dataset")):
            shutil.rmtree(workdir / "dataset")
            raise ValueError(f"warp_start: {DEPTHS_MISSING}")
        step_offset = 0
        checkpoint_path = None
        if base_checkpoint is not None:
            checkpoint_path = find_checkpoint(Path(base_checkpoint))
            step_offset = int(load_checkpoint(checkpoint_path).get("nerf_step", 0))
            if continue_from_edit:
                _adopt_edited_images(Path(base_checkpoint), workdir / "dataset")
        meta = {
            "version": FORMAT_VERSION,
            "params": params.to_dict(),
            "plan": {
                "base_steps": 0 if checkpoint_path else params.base_iterations,
                "edit_steps": params.edit_iterations,
                "step_offset": step_offset,
            },
            "base_checkpoint": str(checkpoint_path) if checkpoint_path else None,
            "continue_from_edit": continue_from_edit,
            "created_at": time.time(),
        }
        write_json_atomic(layout.session_file(workdir), meta)
        session = cls(workdir, meta, editor=editor, device=resolve_device(device), on_event=on_event)
        if checkpoint_path is not None:
            session._load_base(checkpoint_path)
        return session

    @classmethod
    def resume(
        cls,
        workdir: Path,
        *,
        editor: EditorSource = None,
        device: str = "auto",
        on_event: EventCallback | None = None,
    ) -> EditSession:
        """Reopen a session at its last checkpoint, with its newest edited images."""
        workdir = Path(workdir)
        if not layout.has_session(workdir):
            raise FileNotFoundError(f"{workdir} holds no session ({layout.SESSION_FILE} missing)")
        meta = json.loads(layout.session_file(workdir).read_text(encoding="utf-8"))
        session = cls(workdir, meta, editor=editor, device=resolve_device(device), on_event=on_event)
        if layout.checkpoint_path(workdir).is_file():
            session._load_own(layout.checkpoint_path(workdir))
        elif meta.get("base_checkpoint"):
            session._load_base(Path(meta["base_checkpoint"]))
        return session

    @classmethod
    def open_for_export(cls, workdir: Path, *, device: str = "auto") -> EditSession:
        """Load the latest checkpoint for rendering and export: the editor is never loaded."""
        return cls.resume(workdir, editor=_NoEditor(), device=device)

    def _build(self, editor: EditorSource) -> None:
        config = tier_config(self.params.tier)
        p = self.params
        pipeline_config = config.pipeline
        dataset = self.workdir / "dataset"
        pipeline_config.datamanager.data = dataset
        pipeline_config.datamanager.dataparser.data = dataset
        for name, attr in PIPELINE_FIELDS.items():
            setattr(pipeline_config, attr, getattr(p, name))
        if p.model:
            pipeline_config.ip2p_model = p.model
        if not p.optimize_cameras:
            pipeline_config.model.camera_optimizer.mode = "off"
        dataset_meta = read_transforms(dataset)
        configure_model(pipeline_config.model, dataset_meta)
        self.has_alpha = bool(dataset_meta.get(ALPHA_KEY))
        self.mixed_precision = config.mixed_precision and self.device.type == "cuda"
        self.grad_scaler = torch.amp.GradScaler(self.device.type, enabled=self.mixed_precision)
        torch.manual_seed(p.seed)
        self.pipeline: In2NPipeline = pipeline_config.setup(
            device=str(self.device), test_mode="val", world_size=1, local_rank=0, grad_scaler=self.grad_scaler
        )
        self.pipeline.editor = editor
        self.pipeline.edit_listeners.append(self._on_edit)
        self.pipeline.train()
        self.optimizers = Optimizers(config.optimizers, self.pipeline.get_param_groups())
        attributes = TrainingCallbackAttributes(
            optimizers=self.optimizers, grad_scaler=self.grad_scaler, pipeline=self.pipeline, trainer=None
        )
        self.callbacks = self.pipeline.get_training_callbacks(attributes)
        outputs = self.pipeline.datamanager.train_dataparser_outputs
        self.nerf_frame = NerfFrame(
            outputs.dataparser_transform.double().numpy(), float(outputs.dataparser_scale)
        )

    # ----------------------------------------------------------------------------------------------
    # State

    @property
    def progress(self) -> Progress:
        with self._lock:
            phase = self.plan.phase_at(self._step)
            if phase == "base":
                phase_step, phase_total = self._step, self.plan.base_steps
            else:
                phase_step, phase_total = self._step - self.plan.base_steps, self.plan.edit_steps
            return Progress(
                phase=phase,
                step=self._step,
                total_steps=self.plan.total,
                phase_step=min(phase_step, phase_total),
                phase_total=phase_total,
                edits_done=self.pipeline.edits_done,
                eta_seconds=self._eta(),
                losses=dict(self._losses),
            )

    def _eta(self) -> float | None:
        base_left = max(0, self.plan.base_steps - self._step)
        edit_left = min(self.plan.edit_steps, self.plan.total - self._step)
        base_rate = self._seconds_per_step.get("base")
        edit_rate = self._seconds_per_step.get("edit", base_rate)
        if (base_left and base_rate is None) or (edit_left and edit_rate is None):
            return None
        return base_left * (base_rate or 0.0) + edit_left * (edit_rate or 0.0)

    @property
    def finished(self) -> bool:
        return self._step >= self.plan.total

    @property
    def num_images(self) -> int:
        return self.pipeline.datamanager.num_images

    @property
    def scene_bounds(self) -> dict[str, list[float]] | None:
        """The box (scene frame) around the scene's surfaces when the dataset knows it, else None."""
        return read_transforms(self.workdir / "dataset").get(BOUNDS_KEY)

    @property
    def training_cameras(self) -> list[CameraSpec]:
        """The dataset's cameras in the scene's own frame, at the prepared (downscaled) size."""
        meta = read_transforms(self.workdir / "dataset")
        return [CameraSpec.from_wire(frame) for frame in meta["frames"]]

    def view_mask(self, index: int) -> np.ndarray | None:
        """Training camera `index`'s edit mask ([H, W] bool at the prepared size, True = the edited objects).

        `index` counts `training_cameras` (the dataset's frames); None when the scene has no masks. An edited
        view's mask follows its edited shape inside the grow region (edit_alpha.edited_mask), so the grown
        part of an object is one of the edited objects.
        """
        datamanager = self.pipeline.datamanager
        if datamanager.edit_masks is None:
            return None
        row = self._dataset_row(index)
        with self._lock:
            mask = datamanager.edit_masks[row, ..., 0].cpu() >= 0.5
            region = datamanager.grow_region(row).cpu()
            if region.any():
                mask = edited_mask(
                    mask,
                    region,
                    datamanager.original_image(row)[..., 3].cpu(),
                    datamanager.current_image(row)[..., 3].float().cpu(),
                )
        return mask.numpy()

    def held_depth(self, index: int) -> np.ndarray | None:
        """Training camera `index`'s captured z-depth where it still holds ([H, W] float32, scene units, at
        the prepared size): 0 where the capture hit nothing and where an edit released it (its shape
        changed there, engine/edit_alpha.py and engine/moved_surface.py); None when the scene has no depth.

        The same pixels the depth loss supervises: what the NeRF was told the surface is.
        """
        datamanager = self.pipeline.datamanager
        depths = datamanager.image_batch.get("depth_image")
        if depths is None:
            return None
        row = self._dataset_row(index)
        with self._lock:
            depth = depths[row, ..., 0].float().cpu().numpy()
            released = datamanager.depth_released_pixels(row).cpu().numpy()
        return np.where(released, 0.0, self.nerf_frame.to_scene_length(depth)).astype(np.float32)

    def _dataset_row(self, index: int) -> int:
        """The datamanager's row of training camera `index` (nerfstudio sorts the frames by file name)."""
        frames = read_transforms(self.workdir / "dataset")["frames"]
        names = [Path(p).name for p in self.pipeline.datamanager.train_dataparser_outputs.image_filenames]
        return names.index(Path(frames[index]["file_path"]).name)

    def _emit(self, kind: str, **data: Any) -> None:
        if self.on_event is not None:
            self.on_event(EngineEvent(kind, data))

    # ----------------------------------------------------------------------------------------------
    # Training

    def step(self) -> None:
        """One NeRF step; on the edit schedule's steps, edits come first."""
        with self._lock:
            phase = self.plan.phase_at(self._step)
            if phase == "done":
                return
            if self._step == 0 or self._step == self.plan.base_steps:
                self._emit("phase", phase=phase, step=self._step)
            nerf_step = self.plan.step_offset + self._step
            self.pipeline.editing = phase == "edit"
            started = time.perf_counter()
            self._train_iteration(nerf_step)
            elapsed = time.perf_counter() - started
            previous = self._seconds_per_step.get(phase)
            self._seconds_per_step[phase] = elapsed if previous is None else 0.9 * previous + 0.1 * elapsed
            self._step += 1
            if self._step % 10 == 0 or self._step in (self.plan.base_steps, self.plan.total):
                progress = self.progress
                self._emit(
                    "progress",
                    phase=progress.phase if not self.finished else phase,
                    step=progress.step,
                    total_steps=progress.total_steps,
                    progress=progress.progress,
                    eta_seconds=progress.eta_seconds,
                    edits_done=progress.edits_done,
                    losses=progress.losses,
                )
            if self.finished:
                self._emit("phase", phase="done", step=self._step)

    def _train_iteration(self, nerf_step: int) -> None:
        for callback in self.callbacks:
            callback.run_callback_at_location(
                nerf_step, location=TrainingCallbackLocation.BEFORE_TRAIN_ITERATION
            )
        self.optimizers.zero_grad_all()
        with torch.autocast(device_type=self.device.type, enabled=self.mixed_precision):
            _, loss_dict, _ = self.pipeline.get_train_loss_dict(step=nerf_step)
            loss = torch.stack([value.float() for value in loss_dict.values()]).sum()
        if not torch.isfinite(loss):
            raise TrainingDivergedError(f"loss is {loss.item()} at step {self._step} ({loss_dict})")
        self.grad_scaler.scale(loss).backward()
        self.optimizers.optimizer_scaler_step_all(self.grad_scaler)
        scale = self.grad_scaler.get_scale()
        self.grad_scaler.update()
        if optimizer_stepped(scale, self.grad_scaler.get_scale()):
            self.optimizers.scheduler_step_all(nerf_step)
        for callback in self.callbacks:
            callback.run_callback_at_location(
                nerf_step, location=TrainingCallbackLocation.AFTER_TRAIN_ITERATION
            )
        self._losses = {name: float(value.detach()) for name, value in loss_dict.items()}

    def run(
        self,
        should_stop: Callable[[], bool] = lambda: False,
        *,
        checkpoint_every: int = 200,
        max_steps: int | None = None,
        progress_bar: bool = False,
    ) -> bool:
        """Step until done, `should_stop()` or `max_steps`; checkpoints on the way and at exit.

        Returns True when the session finished.
        """
        bar = None
        if progress_bar:
            from tqdm import tqdm

            bar = tqdm(total=self.plan.total, initial=self._step, unit="step", dynamic_ncols=True)
        done = 0
        try:
            while not self.finished and not should_stop() and (max_steps is None or done < max_steps):
                self.step()
                done += 1
                if bar is not None:
                    progress = self.progress
                    bar.set_description(f"{progress.phase} (edits {progress.edits_done})")
                    bar.update(1)
                if self._step % checkpoint_every == 0 and not self.finished:
                    self.save()
        finally:
            if bar is not None:
                bar.close()
        if done:
            self.save()
        return self.finished

    # ----------------------------------------------------------------------------------------------
    # Checkpoints

    def save(self) -> Path:
        """Write the checkpoint atomically, then record the step in session.json."""
        with self._lock:
            images = self.pipeline.datamanager.image_batch["image"]
            payload = {
                "version": FORMAT_VERSION,
                "session_step": self._step,
                "nerf_step": self.plan.step_offset + self._step,
                "model": self.pipeline.model.state_dict(),
                "optimizers": {k: o.state_dict() for k, o in self.optimizers.optimizers.items()},
                "schedulers": {k: s.state_dict() for k, s in self.optimizers.schedulers.items()},
                "grad_scaler": self.grad_scaler.state_dict(),
                "idu": self.pipeline.idu_state_dict(),
                "images": (images.detach().clamp(0, 1) * 255).round().to(torch.uint8).cpu(),
                "seconds_per_step": dict(self._seconds_per_step),
            }
            path = atomic_save(payload, layout.checkpoint_path(self.workdir))
            self._meta["step"] = self._step
            self._meta["phase"] = self.plan.phase_at(self._step)
            write_json_atomic(layout.session_file(self.workdir), self._meta)
            self._emit("checkpoint", step=self._step, path=str(path))
            return path

    def _load_own(self, path: Path) -> None:
        checkpoint = load_checkpoint(path, map_location=self.device)
        self.pipeline.model.load_state_dict(checkpoint["model"])
        self._load_optimizers(checkpoint)
        self.pipeline.load_idu_state_dict(checkpoint["idu"])
        self._step = int(checkpoint["session_step"])
        self._seconds_per_step = dict(checkpoint.get("seconds_per_step", {}))
        images = checkpoint["images"].float() / 255.0
        datamanager = self.pipeline.datamanager
        for index in range(datamanager.num_images):
            # An edit written after the checkpoint is newer than the checkpoint's copy: never lose it.
            edited = layout.edited_image_path(self.workdir, index)
            mode = "RGBA" if self.has_alpha else "RGB"
            datamanager.replace_image(index, _read_png(edited, mode) if edited.is_file() else images[index])
            if edited.is_file():
                free = layout.alpha_free_path(self.workdir, index)
                if free.is_file():
                    datamanager.set_alpha_free(index, _read_png(free, "L") >= 0.5)
                self.pipeline.mark_edited(index)
        self.pipeline.settle_edits(sorted(self.pipeline.edited_views))
        self._restore_step_state()

    def _load_base(self, path: Path) -> None:
        """Start from another reconstruction: its weights and, when compatible, its optimizer states."""
        checkpoint = load_checkpoint(path, map_location=self.device)
        self.pipeline.model.load_state_dict(model_state(checkpoint))
        # Another tier's optimizers do not fit this model: they then start fresh.
        with contextlib.suppress(KeyError, ValueError, RuntimeError):
            self._load_optimizers(checkpoint)
        self._restore_step_state()

    def _restore_step_state(self) -> None:
        """Bring step-driven state (nerfacto's proposal-weight annealing) to where the saved NeRF left it, so
        that a render right after loading equals one right before saving: the last step that ran was number
        `done - 1` (the next step sets its own anyway)."""
        done = self.plan.step_offset + self._step
        if done == 0:
            return
        for callback in self.callbacks:
            callback.run_callback_at_location(
                done - 1, location=TrainingCallbackLocation.BEFORE_TRAIN_ITERATION
            )

    def _load_optimizers(self, checkpoint: dict[str, Any]) -> None:
        for name, optimizer in self.optimizers.optimizers.items():
            optimizer.load_state_dict(checkpoint["optimizers"][name])
        for name, scheduler in self.optimizers.schedulers.items():
            scheduler.load_state_dict(checkpoint["schedulers"][name])
        if checkpoint.get("grad_scaler") and "grad_scaler" in checkpoint:
            self.grad_scaler.load_state_dict(checkpoint["grad_scaler"])

    def _on_edit(self, index: int, edited: torch.Tensor) -> None:
        path = layout.edited_image_path(self.workdir, index)
        free = self.pipeline.datamanager.alpha_free_pixels(index)
        free_path = layout.alpha_free_path(self.workdir, index)
        if free.any():
            _write_png_atomic(free_path, free.float().cpu().numpy())
        else:
            free_path.unlink(missing_ok=True)
        _write_png_atomic(path, edited.detach().float().cpu().numpy())
        self._emit(
            "edit", image_index=index, edits_done=self.pipeline.edits_done, step=self._step, path=str(path)
        )

    # ----------------------------------------------------------------------------------------------
    # Rendering and images

    def camera_to_nerf(self, camera: CameraSpec) -> Cameras:
        """A camera in the scene's frame -> nerfstudio's normalised frame (the dataparser's transform)."""
        pose = torch.from_numpy(self.nerf_frame.pose(camera.camera_to_world)).float()[None]
        return Cameras(
            camera_to_worlds=pose,
            fx=float(camera.fx),
            fy=float(camera.fy),
            cx=float(camera.cx),
            cy=float(camera.cy),
            width=int(camera.width),
            height=int(camera.height),
            camera_type=CameraType.PERSPECTIVE,
        ).to(self.device)

    def render(self, camera: CameraSpec) -> RenderResult:
        """Render any camera given in the scene's own frame; depth is z-depth in scene units."""
        nerf_camera = self.camera_to_nerf(camera)
        with self._lock, torch.no_grad():
            was_training = self.pipeline.model.training
            self.pipeline.model.eval()
            try:
                outputs = self.pipeline.model.get_outputs_for_camera(nerf_camera)
            finally:
                self.pipeline.model.train(was_training)
        rgb = outputs["rgb"].clamp(0, 1).float().cpu().numpy()
        accumulation = outputs["accumulation"][..., 0].float().cpu().numpy()
        if self.has_alpha:  # the "random" background renders premultiplied colour: make it straight
            rgb = np.where(accumulation[..., None] > 1e-3, rgb / np.maximum(accumulation[..., None], 1e-3), 0)
            rgb = np.clip(rgb, 0, 1)
        ray_distance = self.nerf_frame.to_scene_length(outputs["depth"][..., 0].float().cpu().numpy())
        return RenderResult(
            rgb=rgb.astype(np.float32),
            depth=z_depth(camera, ray_distance).astype(np.float32),
            accumulation=accumulation.astype(np.float32),
            transparent=self.has_alpha,
        )

    def edited_image(self, index: int) -> np.ndarray:
        """The current training image `index` ([H, W, 3 or 4] float32; the original until first edited)."""
        with self._lock:
            return self.pipeline.datamanager.current_image(index).float().cpu().numpy()

    def original_image(self, index: int) -> np.ndarray:
        return self.pipeline.datamanager.original_image(index).float().cpu().numpy()


class _NoEditor:
    """Stands in for the editor in export-only sessions: editing there is a programming error."""

    def edit(
        self, render: torch.Tensor, original: torch.Tensor, instruction: str, *, view_index: int, **_: object
    ) -> torch.Tensor:
        raise RuntimeError("this session was opened for export only; it cannot edit")


def _adopt_edited_images(base: Path, dataset_dir: Path) -> None:
    """Make a previous session's newest edits the originals of this one (edits stack)."""
    base_dir = base if base.is_dir() else base.parent.parent
    if not layout.edited_dir(base_dir).is_dir():
        raise FileNotFoundError(f"{base_dir} has no edited images to continue from")
    for edited in layout.edited_images(base_dir):
        target = dataset_dir / "images" / edited.name
        if not target.is_file():
            raise ValueError(f"{edited.name} has no matching view in this dataset: is it the same scene?")
        with Image.open(edited) as image, Image.open(target) as original:
            if image.size != original.size:
                raise ValueError(f"{edited.name} is {image.size}, the dataset's view is {original.size}")
        shutil.copyfile(edited, target)
