"""EditSession: the engine's Python API (CONTRACT: signatures fixed, bodies being written).

One session = one edit of one scene, with all its state in `workdir` so it resumes after a crash:

    workdir/
      session.json          params, phase, step, dataset path (atomic writes)
      dataset/              the prepared nerfstudio dataset (downscaled RGB images + transforms.json)
      originals/NNNN.png    the originals this edit is conditioned on (copied at creation)
      edited/NNNN.png       the current edited images (written atomically as they change)
      checkpoints/latest.pt model + optimizers + schedulers + IDU state (weights_only-safe)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..editor.base import Editor
from .types import CameraSpec, EditParams, EngineEvent, Progress, RenderResult

EventCallback = Callable[[EngineEvent], None]


class EditSession:
    """Base reconstruction, then the Iterative Dataset Update, one `step()` at a time."""

    @classmethod
    def create(
        cls,
        dataset_dir: Path,
        workdir: Path,
        params: EditParams,
        *,
        editor: Editor | Callable[[], Editor] | None = None,
        device: str = "auto",
        base_checkpoint: Path | None = None,
        continue_from_edit: bool = False,
        on_event: EventCallback | None = None,
    ) -> EditSession:
        """Prepare `workdir` from a nerfstudio dataset dir (transforms.json + images).

        `editor` is an Editor, a zero-argument factory (called lazily, at the first edit), or None
        to build the InstructPix2Pix editor from `params` when first needed. `base_checkpoint` is
        another session's workdir (or its checkpoint file): the base phase is then skipped.
        With `continue_from_edit`, that session's edited images become this edit's originals.
        """
        raise NotImplementedError

    @classmethod
    def resume(
        cls,
        workdir: Path,
        *,
        editor: Editor | Callable[[], Editor] | None = None,
        device: str = "auto",
        on_event: EventCallback | None = None,
    ) -> EditSession:
        """Reopen a session from its workdir at its last checkpoint (edited images included)."""
        raise NotImplementedError

    @classmethod
    def open_for_export(cls, workdir: Path, *, device: str = "auto") -> EditSession:
        """Load the latest checkpoint for rendering/export only: never loads the editor."""
        raise NotImplementedError

    @property
    def progress(self) -> Progress:
        raise NotImplementedError

    @property
    def finished(self) -> bool:
        raise NotImplementedError

    @property
    def num_images(self) -> int:
        raise NotImplementedError

    @property
    def training_cameras(self) -> list[CameraSpec]:
        """The dataset's cameras in the scene's own frame, at the prepared (downscaled) size."""
        raise NotImplementedError

    def step(self) -> None:
        """One NeRF step (and, on edit steps, `edit_count` IDU edits)."""
        raise NotImplementedError

    def run(
        self,
        should_stop: Callable[[], bool] = lambda: False,
        *,
        checkpoint_every: int = 200,
        max_steps: int | None = None,
    ) -> bool:
        """Step until done, `should_stop()` or `max_steps`; checkpoints on the way and at exit.

        Returns True when the session finished.
        """
        raise NotImplementedError

    def save(self) -> Path:
        """Write the checkpoint atomically; returns its path."""
        raise NotImplementedError

    def render(self, camera: CameraSpec) -> RenderResult:
        """Render any camera given in the scene's own frame."""
        raise NotImplementedError

    def edited_image(self, index: int) -> np.ndarray:
        """The current training image `index` ([H, W, 3] float32, edited or not yet)."""
        raise NotImplementedError

    def original_image(self, index: int) -> np.ndarray:
        raise NotImplementedError
