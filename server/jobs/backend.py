"""Where jobs run: the interface the job service drives, and the choice between its two implementations.

The embedded `Worker` (the default) trains one job at a time on this machine's device. The Ray backend
(`in2n-server --ray auto|ADDRESS`) runs each job in an actor on any node of a Ray cluster, as many at once
as the cluster has GPUs. Both report through the same `JobRunner` calls, so the event log, SSE and the
job state machine do not know which one ran a job. Ray is imported only when it is asked for.
"""

from __future__ import annotations

import concurrent.futures
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from .worker import JobRunner, Worker

if TYPE_CHECKING:
    from ..config import Settings


class JobBackend(Protocol):
    """Runs queued jobs (in creation order) and serves calls on the running ones' sessions."""

    def start(self) -> None: ...

    def stop(self, timeout: float | None = 120.0) -> None:
        """Running jobs checkpoint and stop; they stay queued for the next start."""

    def submit(self, job_id: str) -> None: ...

    def withdraw(self, job_id: str) -> bool:
        """Remove a job that has not started yet; True if it was waiting."""

    def cancel(self, job_id: str) -> bool:
        """Ask a running job to stop after its current step; True if it is running."""

    def is_running(self, job_id: str) -> bool: ...

    def wait_idle(self, job_id: str, timeout: float) -> bool:
        """Block until `job_id` is no longer running; False on timeout."""

    def call_running(self, job_id: str, call: Callable[[Any], Any]) -> concurrent.futures.Future[Any] | None:
        """Run `call(session)` between two training steps of the running job; None if it is not running."""


def create_backend(runner: JobRunner, settings: Settings) -> JobBackend:
    if settings.ray is None:
        return Worker(runner, checkpoint_every=settings.checkpoint_every)
    from .ray_backend import RayBackend

    return RayBackend(runner, settings)
