"""Sessions opened from a job's last checkpoint to render previews and exports of a job that is not running.

Loading a checkpoint costs seconds, and an artist asks for several exports and previews in a row, so the
last few are kept, keyed by the checkpoint's modification time (a newer checkpoint opens a new session).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from ..engine import workdir as layout
from .errors import ConflictError

KEPT_SESSIONS = 2
"""Export-only sessions kept open (each holds a NeRF in memory)."""


class ExportSessions:
    """A small LRU of export-only sessions, safe to use from several request threads."""

    def __init__(self, device: str) -> None:
        self.device = device
        self._sessions: OrderedDict[str, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, job_id: str, session_dir: Path, state: str) -> Any:
        """The job's export-only session at its newest checkpoint (409 while it has none)."""
        checkpoint = layout.checkpoint_path(session_dir)
        if not checkpoint.is_file():
            raise ConflictError(f"job {job_id} has no reconstruction yet (it is {state}); try again later")
        stamp = checkpoint.stat().st_mtime
        with self._lock:
            cached = self._sessions.get(job_id)
            if cached is not None and cached[0] == stamp:
                self._sessions.move_to_end(job_id)
                return cached[1]
            from ..engine.session import EditSession

            session = EditSession.open_for_export(session_dir, device=self.device)
            self._sessions[job_id] = (stamp, session)
            while len(self._sessions) > KEPT_SESSIONS:
                self._sessions.popitem(last=False)
            return session

    def drop(self, job_id: str) -> None:
        """Forget the job's session (it was deleted, or a running session now owns its checkpoint)."""
        with self._lock:
            self._sessions.pop(job_id, None)
