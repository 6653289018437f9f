"""Background threads for network work; results come back through one queue.

bpy may only be touched on Blender's main thread, so the threads here never import it. They put
`(kind, payload)` items on `Worker.results`; a plain function on the main thread (results.drain, run by
bpy.app.timers) takes them off and updates Blender. Tests call that function directly because timers never
fire in the bpy module.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Any

from .client import Client, ClientError, ServerError, ServerUnreachableError
from .protocol import wire

# Result kinds put on the queue.
RESULT_DONE = "done"  # (tag, value): a task finished
RESULT_FAILED = "failed"  # (tag, ClientError): a task failed
RESULT_EVENT = "event"  # (job_id, Event): a job event
RESULT_CONNECTION = "connection"  # (connected: bool, message: str)

RECONNECT_DELAYS = (0.5, 1.0, 2.0, 4.0)


class Tag:
    """What a task was: the tag it is submitted with and its result comes back with (results.py)."""

    HEALTH = "health"  # an explicit server check (or a local server starting)
    HEARTBEAT = "heartbeat"  # the timer's quiet health poll
    SCENE = "scene"  # a capture uploaded (and maybe the job created on it)
    DATASET = "dataset"  # a server dataset opened
    JOB = "job"  # a job created, cancelled or resumed
    PREVIEW = "preview"  # a preview the artist asked for
    AUTO_PREVIEW = "auto-preview"  # a preview at a checkpoint (fails quietly)
    EDITED = "edited"  # one edited dataset image
    EXPORT = "export"  # geometry downloaded to a file
    EVENTS = "events"  # the job's event stream (failures only)


class Worker:
    """One task thread (requests run in order) plus at most one job-event watcher thread."""

    def __init__(self) -> None:
        self.results: queue.Queue[tuple[str, Any]] = queue.Queue()
        self._tasks: queue.Queue[tuple[str, Callable[[], Any]] | None] = queue.Queue()
        self._thread = threading.Thread(target=self._run_tasks, name="in2n-worker", daemon=True)
        self._thread.start()
        self._watch_stop = threading.Event()
        self._watch_thread: threading.Thread | None = None
        self._watch_client: Client | None = None
        self._pending = 0
        self._lock = threading.Lock()

    # -- tasks ------------------------------------------------------------------------------------------

    def submit(self, tag: str, fn: Callable[[], Any]) -> None:
        """Run `fn` on the task thread; its value (or ClientError) arrives as a result tagged `tag`."""
        with self._lock:
            self._pending += 1
        self._tasks.put((tag, fn))

    @property
    def busy(self) -> bool:
        with self._lock:
            return self._pending > 0

    def _run_tasks(self) -> None:
        while True:
            item = self._tasks.get()
            if item is None:
                return
            tag, fn = item
            try:
                self.results.put((RESULT_DONE, (tag, fn())))
            except ServerUnreachableError as exc:
                self.results.put((RESULT_CONNECTION, (False, str(exc))))
                self.results.put((RESULT_FAILED, (tag, exc)))
            except ClientError as exc:
                self.results.put((RESULT_FAILED, (tag, exc)))
            except Exception as exc:  # a bug must not kill the thread; it is reported instead
                self.results.put((RESULT_FAILED, (tag, ClientError(f"{type(exc).__name__}: {exc}"))))
            finally:
                with self._lock:
                    self._pending -= 1

    # -- job events -------------------------------------------------------------------------------------

    def watch(self, client: Client, job_id: str, after: int = 0) -> None:
        """Follow a job's event stream, reconnecting (with Last-Event-ID) until `done` or `unwatch()`."""
        self.unwatch()
        self._watch_stop = threading.Event()
        self._watch_client = client
        self._watch_thread = threading.Thread(
            target=self._watch_loop,
            args=(client, job_id, after, self._watch_stop),
            name="in2n-events",
            daemon=True,
        )
        self._watch_thread.start()

    @property
    def watching(self) -> bool:
        return self._watch_thread is not None and self._watch_thread.is_alive()

    def unwatch(self, timeout: float = 5.0) -> None:
        self._watch_stop.set()
        if self._watch_client is not None:
            self._watch_client.close_stream()
        if self._watch_thread is not None:
            self._watch_thread.join(timeout)
        self._watch_thread = None
        self._watch_client = None

    def _watch_loop(self, client: Client, job_id: str, after: int, stop: threading.Event) -> None:
        last_id = after
        failures = 0
        connected: bool | None = None
        while not stop.is_set():
            try:
                for event in client.events(job_id, last_id):
                    if stop.is_set():
                        return
                    if connected is not True:
                        connected = True
                        self.results.put((RESULT_CONNECTION, (True, "")))
                    failures = 0
                    last_id = max(last_id, event.id)
                    self.results.put((RESULT_EVENT, (job_id, event)))
                    if event.kind == wire.EVENT_DONE:
                        return
                # The stream ended without `done` (server shutting down): reconnect.
            except ServerUnreachableError as exc:
                if stop.is_set():
                    return
                if connected is not False:
                    connected = False
                    self.results.put((RESULT_CONNECTION, (False, str(exc))))
            except ServerError as exc:
                self.results.put((RESULT_FAILED, (Tag.EVENTS, exc)))
                return
            except ClientError as exc:
                self.results.put((RESULT_FAILED, (Tag.EVENTS, exc)))
            delay = RECONNECT_DELAYS[min(failures, len(RECONNECT_DELAYS) - 1)]
            failures += 1
            stop.wait(delay)

    # -- shutdown ---------------------------------------------------------------------------------------

    def stop(self, timeout: float = 5.0) -> None:
        """End both threads; a request in flight finishes first (bounded by its own timeout)."""
        self.unwatch(timeout)
        self._tasks.put(None)
        self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive() or self.watching
