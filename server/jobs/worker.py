"""The training thread: runs queued jobs one at a time on one device.

Cancellation is cooperative: `EditSession.run(should_stop=...)` asks between NeRF steps. That same
callback is where the thread does work for the HTTP side (previews and exports of the running job are
rendered on this thread, between two steps, so the model is never used by two threads at once) and where
progress is published.
"""

from __future__ import annotations

import concurrent.futures
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from in2n_protocol.wire import CANCELLED, COMPLETED, FAILED

from ..editor.loading import EditorUnavailableError
from ..engine.dataset import DatasetError
from .errors import ConflictError

log = logging.getLogger(__name__)

SessionCall = Callable[[Any], Any]
OOM_MESSAGE = (
    "the GPU ran out of memory. Try a lighter tier (in2n-small or in2n-tiny), a lower max image size, "
    "or fewer images; other jobs are not affected."
)


class JobRunner(Protocol):
    """What the worker needs from the job service (kept narrow so the thread logic stays testable)."""

    def open_session(self, job_id: str, on_event: Callable[[Any], None]) -> Any: ...

    def job_started(self, job_id: str, session: Any) -> None: ...

    def job_engine_event(self, job_id: str, session: Any, event: Any) -> None: ...

    def job_tick(self, job_id: str, session: Any) -> None: ...

    def job_finished(
        self, job_id: str, session: Any | None, outcome: str, error: dict[str, str] | None
    ) -> None: ...


class Worker:
    """One thread, a FIFO of job ids, a cancel flag per job and a mailbox of calls for the running session."""

    def __init__(self, runner: JobRunner, checkpoint_every: int, name: str = "in2n-worker") -> None:
        self._runner = runner
        self._checkpoint_every = checkpoint_every
        self._lock = threading.Condition()
        self._queue: list[str] = []
        self._current: str | None = None
        self._cancel: set[str] = set()
        self._stopping = False
        self._calls: queue.Queue[tuple[SessionCall, concurrent.futures.Future[Any]]] = queue.Queue()
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float | None = 120.0) -> None:
        """Ask the running job to checkpoint and stop (it stays queued for the next start)."""
        with self._lock:
            self._stopping = True
            self._lock.notify_all()
        self._thread.join(timeout)

    def submit(self, job_id: str) -> None:
        with self._lock:
            if job_id not in self._queue and job_id != self._current:
                self._queue.append(job_id)
                self._lock.notify_all()

    def withdraw(self, job_id: str) -> bool:
        """Remove a job that has not started yet; True if it was waiting."""
        with self._lock:
            if job_id in self._queue:
                self._queue.remove(job_id)
                return True
            return False

    def cancel(self, job_id: str) -> bool:
        """Ask the running job to stop after its current step; True if it is the running one."""
        with self._lock:
            if self._current == job_id:
                self._cancel.add(job_id)
                return True
            return False

    def is_running(self, job_id: str) -> bool:
        with self._lock:
            return self._current == job_id

    def wait_idle(self, job_id: str, timeout: float) -> bool:
        """Block until `job_id` is no longer the running job."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while self._current == job_id:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._lock.wait(left)
            return True

    def call_running(self, job_id: str, call: SessionCall) -> concurrent.futures.Future[Any] | None:
        """Run `call(session)` on the training thread between two steps, if `job_id` is running."""
        with self._lock:
            if self._current != job_id:
                return None
            future: concurrent.futures.Future[Any] = concurrent.futures.Future()
            self._calls.put((call, future))
            return future

    # --- the thread ---------------------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            with self._lock:
                while not self._queue and not self._stopping:
                    self._lock.wait()
                if self._stopping:
                    return
                job_id = self._queue.pop(0)
                self._current = job_id
            try:
                self._run(job_id)
            except Exception:  # never let one job kill the worker
                log.exception("job %s: unexpected failure in the worker", job_id)
            finally:
                with self._lock:
                    self._current = None
                    self._cancel.discard(job_id)
                    self._lock.notify_all()
                self._fail_calls(ConflictError(f"job {job_id} stopped before the request could be served"))

    def _run(self, job_id: str) -> None:
        session = None
        outcome, error = FAILED, None
        try:
            session = self._runner.open_session(job_id, lambda event: self._on_event(job_id, session, event))
            self._runner.job_started(job_id, session)

            def should_stop() -> bool:
                self._serve_calls(session)
                self._runner.job_tick(job_id, session)
                with self._lock:
                    return self._stopping or job_id in self._cancel

            finished = session.run(should_stop, checkpoint_every=self._checkpoint_every)
            self._serve_calls(session)
            with self._lock:
                cancelled, stopping = job_id in self._cancel, self._stopping
            outcome = COMPLETED if finished else CANCELLED if cancelled else "interrupted" if stopping else ""
            if not outcome:  # run() returned early without a reason we know: treat as interrupted
                outcome = "interrupted"
        except Exception as exc:  # classified for the user; the traceback goes to the log
            outcome, error = FAILED, classify_error(exc)
            if error["code"] == "internal_error":
                log.exception("job %s failed", job_id)
            else:
                log.warning("job %s failed: %s", job_id, error["message"])
            release_accelerator_memory()
        self._runner.job_finished(job_id, session, outcome, error)

    def _on_event(self, job_id: str, session: Any, event: Any) -> None:
        try:
            self._runner.job_engine_event(job_id, session, event)
        except Exception:  # an event we cannot report must not stop training
            log.exception("job %s: could not publish event %r", job_id, event)

    def _serve_calls(self, session: Any) -> None:
        while True:
            try:
                call, future = self._calls.get_nowait()
            except queue.Empty:
                return
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(call(session))
            except Exception as exc:  # handed to the waiting request
                future.set_exception(exc)

    def _fail_calls(self, error: Exception) -> None:
        while True:
            try:
                _, future = self._calls.get_nowait()
            except queue.Empty:
                return
            if future.set_running_or_notify_cancel():
                future.set_exception(error)


def classify_error(exc: BaseException) -> dict[str, str]:
    """A job error `{"code", "message"}` a user can act on."""
    try:
        import torch

        if isinstance(exc, torch.cuda.OutOfMemoryError):
            return {"code": "out_of_memory", "message": OOM_MESSAGE}
    except ImportError:  # pragma: no cover - torch is a dependency
        pass
    if isinstance(exc, EditorUnavailableError):
        return {"code": "editor_unavailable", "message": str(exc)}
    if isinstance(exc, DatasetError | FileNotFoundError):
        return {"code": "bad_request", "message": str(exc)}
    return {"code": "internal_error", "message": f"{type(exc).__name__}: {exc}"}


def release_accelerator_memory() -> None:
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except Exception:  # noqa: BLE001 - best effort
        pass
