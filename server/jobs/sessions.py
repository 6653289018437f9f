"""What it takes to open a job's training session, as plain data, so any process can open it.

The embedded worker opens sessions in the server's process; the Ray backend ships a `SessionSpec` to an
actor on another machine, which opens it there from the shared workspace. One function opens both.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..engine import workdir as layout

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SessionSpec:
    """Everything `open_session` needs; paths are absolute and inside the workspace."""

    job_id: str
    dataset_dir: Path
    workdir: Path
    params: dict[str, Any]
    """Engine parameters (`EditParams.from_dict`), the server's model and image size included."""
    base_checkpoint: Path | None = None
    continue_from_edit: bool = False


def open_session(spec: SessionSpec, device: str, on_event: Callable[[Any], None]) -> Any:
    """Resume the job's session if it has one on disk, else create it (a half-made one is started over)."""
    from ..engine.session import EditSession
    from ..engine.types import EditParams

    if layout.has_session(spec.workdir):
        log.info("job %s: resuming from %s", spec.job_id, spec.workdir)
        return EditSession.resume(spec.workdir, device=device, on_event=on_event)
    if spec.workdir.exists():  # a creation cut off by a crash: start it again
        shutil.rmtree(spec.workdir)
    return EditSession.create(
        spec.dataset_dir,
        spec.workdir,
        EditParams.from_dict(spec.params),
        device=device,
        base_checkpoint=spec.base_checkpoint,
        continue_from_edit=spec.continue_from_edit,
        on_event=on_event,
    )
