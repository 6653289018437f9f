"""One job on a Ray worker: an embedded `Worker` for that job alone, its reports kept for the server.

The actor runs the job exactly as the server's own worker would (same cooperative stepping, same calls
between steps for previews and exports), so the engine cannot tell the two apart. What the worker reports
(started, engine events, progress, finished) is kept in order here; the server polls for it and hands it to
its job service, which owns the event log and the job's state. This module does not import Ray: Ray wraps
the class in the server (`ray_backend.py`) and pickles it by reference, so every node needs the package.

Every incarnation has its own id: after Ray restarts a lost actor, the new one resumes the job from its last
checkpoint and reports from the beginning, and the server sees the id change.
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import ConflictError
from .sessions import SessionSpec, open_session
from .worker import Worker

STOP_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Report:
    """One thing the worker reported: kind is started, engine or finished."""

    kind: str
    progress: Any = None
    event: tuple[str, dict[str, Any]] | None = None
    outcome: str = ""
    error: dict[str, str] | None = None


class JobActor:
    """Created by Ray with the job's spec; starts training at once (also after a restart)."""

    def __init__(self, spec: SessionSpec, checkpoint_every: int, device: str) -> None:
        if not spec.workdir.parent.is_dir():
            raise FileNotFoundError(
                f"this node ({socket.gethostname()}) cannot see the workspace folder {spec.workdir.parent}: "
                "mount the shared workspace at the same path on every node (docs/server.md)"
            )
        self.spec = spec
        self.device = device
        self.incarnation = uuid.uuid4().hex
        self._reports: list[Report] = []
        self._first = 0  # index of _reports[0] in this incarnation's sequence
        self._progress: Any = None
        self._changed = threading.Condition()
        self._worker = Worker(_Recorder(self), checkpoint_every, name=f"in2n-{spec.job_id}")
        self._worker.start()
        self._worker.submit(spec.job_id)

    def where(self) -> dict[str, Any]:
        """Which process runs the job (for operators, and for the tests that kill it)."""
        return {"pid": os.getpid(), "host": socket.gethostname(), "incarnation": self.incarnation}

    def poll(self, incarnation: str | None, cursor: int, wait_s: float) -> dict[str, Any]:
        """Reports after `cursor` (all of them if `incarnation` is not this one), waiting up to `wait_s`.

        Reports before `cursor` are acknowledged and dropped.
        """
        start = cursor if incarnation == self.incarnation else 0
        with self._changed:
            if start > self._first:
                del self._reports[: start - self._first]
                self._first = start
            if self._first + len(self._reports) <= start:
                self._changed.wait(wait_s)
            reports = self._reports[start - self._first :]
            return {
                "incarnation": self.incarnation,
                "reports": reports,
                "cursor": start + len(reports),
                "progress": self._progress,
            }

    def call(self, function: Callable[[Any], Any]) -> dict[str, Any]:
        """`function(session)` between two steps; the outcome as data, so the caller re-raises the
        original exception (not Ray's wrapper of it)."""
        future = self._worker.call_running(self.spec.job_id, function)
        if future is None:
            return {"error": ConflictError(f"job {self.spec.job_id} is not running on this worker")}
        try:
            return {"value": future.result()}
        except Exception as exc:  # handed back to the HTTP side
            return {"error": exc}

    def cancel(self) -> bool:
        return self._worker.cancel(self.spec.job_id)

    def stop(self) -> None:
        """Checkpoint and stop (the server is shutting down); the job is reported as interrupted."""
        self._worker.stop(STOP_TIMEOUT_S)

    # --- what the worker reports ------------------------------------------------------------------

    def _report(self, report: Report) -> None:
        with self._changed:
            self._reports.append(report)
            if report.progress is not None:
                self._progress = report.progress
            self._changed.notify_all()

    def _tick(self, progress: Any) -> None:
        with self._changed:
            self._progress = progress


class _Recorder:
    """The `JobRunner` of the actor's worker: opens the session from the spec and records what happens."""

    def __init__(self, actor: JobActor) -> None:
        self.actor = actor

    def open_session(self, job_id: str, on_event: Callable[[Any], None]) -> Any:
        return open_session(self.actor.spec, self.actor.device, on_event)

    def job_started(self, job_id: str, session: Any) -> None:
        self.actor._report(Report("started", progress=session.progress))

    def job_engine_event(self, job_id: str, session: Any, event: Any) -> None:
        progress = session.progress if session is not None else None
        self.actor._report(Report("engine", progress=progress, event=(event.kind, dict(event.data))))

    def job_tick(self, job_id: str, session: Any) -> None:
        self.actor._tick(session.progress)

    def job_finished(
        self, job_id: str, session: Any | None, outcome: str, error: dict[str, str] | None
    ) -> None:
        progress = session.progress if session is not None else None
        self.actor._report(Report("finished", progress=progress, outcome=outcome, error=error))
