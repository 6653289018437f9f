"""JobService: what the HTTP routes ask of jobs, and what the worker reports back.

It owns the state machine (queued -> running -> completed | failed | cancelled), writes every change to
`job.json` and every event to `events.jsonl` before publishing it, and opens engine sessions: training
sessions for the worker, export-only sessions (no editor) for previews and exports of idle jobs.
"""

from __future__ import annotations

import concurrent.futures
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from in2n_protocol.wire import (
    ACTIVE_STATES,
    CANCELLED,
    COMPLETED,
    EVENT_DONE,
    EVENT_EDIT,
    EVENT_ERROR,
    EVENT_PREVIEW,
    EVENT_PROGRESS,
    EVENT_STATE,
    FAILED,
    FINAL_STATES,
    QUEUED,
    RESUMABLE_STATES,
    RUNNING,
    route,
)

from ..config import Settings
from ..engine import workdir as layout
from . import admission
from .backend import create_backend
from .errors import ConflictError, NotFoundError
from .events import Event
from .export_sessions import ExportSessions
from .sessions import SessionSpec, open_session
from .store import JobRecord, JobStore, SceneStore, Workspace, new_id

log = logging.getLogger(__name__)

PROGRESS_INTERVAL_S = 0.5  # at most two progress events a second
PERSIST_INTERVAL_S = 5.0  # job.json is rewritten at least this often while training
ENGINE_PARAM_EXCLUDES = ("scene_id", "base_job_id", "continue_from_edit")


class JobService:
    def __init__(
        self,
        settings: Settings,
        workspace: Workspace,
        scenes: SceneStore,
        jobs: JobStore,
        device: str,
        publish: Callable[[str, Event], None] = lambda job_id, event: None,
    ) -> None:
        self.settings = settings
        self.workspace = workspace
        self.scenes = scenes
        self.jobs = jobs
        self.device = device
        self.publish = publish
        self.backend = create_backend(self, settings)
        self._ticks: dict[str, tuple[float, float]] = {}  # job -> (last progress event, last persist)
        self._export_sessions = ExportSessions(device)
        self._render_lock = threading.Lock()

    # --- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> None:
        """Requeue what a previous server left unfinished (oldest first), then start the backend."""
        for record in self.jobs.list():
            if record.state in ACTIVE_STATES:
                if record.state == RUNNING:
                    self._set_state(
                        record.job_id, QUEUED, "the server restarted; resuming from the last checkpoint"
                    )
                self.backend.submit(record.job_id)
        self.backend.start()

    def stop(self) -> None:
        self.backend.stop()

    # --- API operations -----------------------------------------------------------------------------

    def create(self, params: dict[str, Any]) -> JobRecord:
        params = admission.resolved_params(params, self.settings.model)
        self.scenes.get(params["scene_id"])
        admission.check_editor(self.settings.model)
        admission.check_scene_data(params, self.workspace.scene_dir(params["scene_id"]) / "dataset")
        base = params.get("base_job_id")
        if base is not None:
            base_record = self.jobs.get(base)
            if base_record.state in ACTIVE_STATES:
                raise ConflictError(f"base job {base} is still {base_record.state}", field="base_job_id")
            if not layout.checkpoint_path(self.workspace.session_dir(base)).is_file():
                raise ConflictError(f"base job {base} has no checkpoint to start from", field="base_job_id")
        record = JobRecord(job_id=new_id("j"), scene_id=params["scene_id"], params=params)
        self.jobs.create(record)
        self._emit(record.job_id, EVENT_STATE, {"state": QUEUED, "phase": QUEUED, "message": "queued"})
        self.backend.submit(record.job_id)
        log.info("job %s queued on scene %s: %r", record.job_id, record.scene_id, params["instruction"])
        return self.jobs.get(record.job_id)

    def cancel(self, job_id: str) -> JobRecord:
        record = self.jobs.get(job_id)
        if record.state == CANCELLED:
            return record
        if record.state in (COMPLETED, FAILED):
            raise ConflictError(f"job {job_id} is already {record.state}")
        if self.backend.withdraw(job_id):
            return self._finish(job_id, CANCELLED, None, "cancelled before it started")
        if self.backend.cancel(job_id):
            return self.jobs.update(job_id, message="cancelling after the current step")
        # Neither waiting nor running: the worker is between picking it up and running it.
        return self._finish(job_id, CANCELLED, None, "cancelled")

    def resume(self, job_id: str) -> JobRecord:
        record = self.jobs.get(job_id)
        if record.state not in RESUMABLE_STATES:
            raise ConflictError(f"job {job_id} is {record.state}; only cancelled or failed jobs resume")
        if not layout.has_session(self.workspace.session_dir(job_id)):
            self.scenes.get(record.scene_id)  # never started: it still needs its scene
        record = self._set_state(
            job_id, QUEUED, "queued again; continues from its last checkpoint", error=None
        )
        self.backend.submit(job_id)
        return record

    def delete(self, job_id: str, timeout: float = 120.0) -> None:
        """Cancel if needed, wait for the worker to let go, then remove the job's folder."""
        self.jobs.get(job_id)
        dependants = [
            r.job_id
            for r in self.jobs.list()
            if r.params.get("base_job_id") == job_id and r.state in ACTIVE_STATES
        ]
        if dependants:
            raise ConflictError(f"job {dependants[0]} starts from this job's checkpoint and has not run yet")
        self.backend.withdraw(job_id)
        if self.backend.cancel(job_id) and not self.backend.wait_idle(job_id, timeout):
            raise ConflictError(f"job {job_id} did not stop in {timeout:.0f} s; try again")
        self._export_sessions.drop(job_id)
        self.jobs.remove(job_id)

    def delete_scene(self, scene_id: str) -> None:
        self.scenes.get(scene_id)
        busy = [r.job_id for r in self.jobs.list() if r.scene_id == scene_id and r.state in ACTIVE_STATES]
        if busy:
            raise ConflictError(
                f"job {busy[0]} on this scene is {self.jobs.get(busy[0]).state}; cancel it first"
            )
        self.scenes.remove(scene_id)

    def list_jobs(self) -> list[JobRecord]:
        return self.jobs.list()

    def get_job(self, job_id: str) -> JobRecord:
        return self.jobs.get(job_id)

    def event_log(self, job_id: str) -> Any:
        """The job's event log (to replay from; 404 for an unknown job)."""
        self.jobs.get(job_id)
        return self.jobs.events(job_id)

    def is_over(self, job_id: str) -> bool:
        """Whether the job is in a final state, or gone."""
        try:
            return self.jobs.get(job_id).state in FINAL_STATES
        except NotFoundError:
            return True

    def export(self, job_id: str, options: dict[str, Any]) -> concurrent.futures.Future[Path]:
        """Write the job's geometry (`ExportRequest` fields: kind, format, sizes, crop, masked_only,
        sh_degree, refine_steps, ...) into its exports folder; the future holds the file's path."""
        from ..export.run import export_geometry

        self.jobs.get(job_id)
        options = dict(options)
        kind, file_format = options.pop("kind"), options.pop("format")
        path = self.workspace.job_dir(job_id) / "exports" / f"{job_id}-{kind}.{file_format}"
        return self.call_session(
            job_id, lambda session: export_geometry(session, kind, file_format, path, **options)
        )

    def call_session(self, job_id: str, call: Callable[[Any], Any]) -> concurrent.futures.Future[Any]:
        """Run `call(session)` where it is safe: on the training thread if the job is running, else on an
        export-only session (loaded from the last checkpoint; never loads the editor)."""
        record = self.jobs.get(job_id)
        future = self.backend.call_running(job_id, call)
        if future is not None:
            return future
        future = concurrent.futures.Future()
        try:
            session = self._export_sessions.get(job_id, self.workspace.session_dir(job_id), record.state)
            with self._render_lock:  # one idle-job render at a time (sessions are not thread-safe)
                future.set_result(call(session))
        except Exception as exc:  # handed to the waiting request
            future.set_exception(exc)
        return future

    def image_path(self, job_id: str, index: int) -> Path:
        """The current training image `index`: edited if it has been, else this job's original."""
        record = self.jobs.get(job_id)
        session_dir = self.workspace.session_dir(job_id)
        count = layout.image_count(session_dir)
        if count is None:
            count = self._scene_image_count(record.scene_id)
        if not 0 <= index < count:
            raise NotFoundError(f"image index {index} is outside 0..{count - 1}", field="index")
        current = layout.current_image_path(session_dir, index)
        if current is not None:
            return current
        if record.scene_id in {s["scene_id"] for s in self.scenes.list()}:  # not started yet
            scene = self.scenes.get(record.scene_id)
            return (
                self.workspace.scene_dir(record.scene_id) / "dataset" / scene["cameras"][index]["file_path"]
            )
        raise NotFoundError(f"image {index} of job {job_id} is gone", field="index")

    def _scene_image_count(self, scene_id: str) -> int:
        try:
            return int(self.scenes.get(scene_id)["num_images"])
        except NotFoundError:
            return 0

    # --- the worker's side (JobRunner) -------------------------------------------------------------

    def session_spec(self, job_id: str) -> SessionSpec:
        """The job's session as plain data (for this process or a Ray actor on another node)."""
        record = self.jobs.get(job_id)
        engine_params = {k: v for k, v in record.params.items() if k not in ENGINE_PARAM_EXCLUDES}
        engine_params.update(model=self.settings.model, max_image_size=self.settings.max_image_size)
        base = record.params.get("base_job_id")
        return SessionSpec(
            job_id=job_id,
            dataset_dir=self.scenes.dataset_dir(record.scene_id),
            workdir=self.workspace.session_dir(job_id),
            params=engine_params,
            base_checkpoint=self.workspace.session_dir(base) if base else None,
            continue_from_edit=bool(record.params.get("continue_from_edit")),
        )

    def open_session(self, job_id: str, on_event: Callable[[Any], None]) -> Any:
        return open_session(self.session_spec(job_id), self.device, on_event)

    def job_started(self, job_id: str, session: Any) -> None:
        self._export_sessions.drop(job_id)  # the running session now owns the checkpoint
        progress = session.progress
        self._ticks[job_id] = (0.0, time.monotonic())
        self.jobs.update(
            job_id, state=RUNNING, phase=progress.phase, error=None, message=f"training ({progress.phase})"
        )
        self._emit(job_id, EVENT_STATE, {"state": RUNNING, "phase": progress.phase, "message": "started"})
        self.job_tick(job_id, session, force=True)

    def job_tick(self, job_id: str, session: Any, force: bool = False) -> None:
        now = time.monotonic()
        last_event, last_persist = self._ticks.get(job_id, (0.0, now))
        if not force and now - last_event < PROGRESS_INTERVAL_S:
            return
        p = session.progress
        data = {
            "phase": p.phase,
            "step": p.step,
            "total_steps": p.total_steps,
            "progress": p.progress,
            "eta_seconds": p.eta_seconds,
            "losses": {k: float(v) for k, v in p.losses.items()},
        }
        persist = force or now - last_persist >= PERSIST_INTERVAL_S
        self.jobs.update(job_id, persist=persist, edits_done=p.edits_done, **data)
        self._ticks[job_id] = (now, now if persist else last_persist)
        self._emit(job_id, EVENT_PROGRESS, data)

    def job_engine_event(self, job_id: str, session: Any, event: Any) -> None:
        data = dict(getattr(event, "data", {}) or {})
        kind = getattr(event, "kind", "")
        if kind == "edit":
            index = int(data.get("image_index", data.get("index", -1)))
            edits_done = int(data.get("edits_done", self.jobs.get(job_id).edits_done + 1))
            self.jobs.update(job_id, persist=False, edits_done=edits_done)
            self._emit(
                job_id,
                EVENT_EDIT,
                {
                    "image_index": index,
                    "edits_done": edits_done,
                    "url": route("jobs", job_id, "images", index),
                },
            )
        elif kind == "checkpoint":
            self.jobs.update(job_id)  # persist the progress that the checkpoint now holds
            self._emit(job_id, EVENT_PREVIEW, {"step": int(data.get("step", 0))})
        elif kind == "phase":
            phase = str(data.get("phase", ""))
            if phase in ("base", "edit", "done"):
                self.jobs.update(job_id, phase=phase, message=f"training ({phase})")
                self._emit(
                    job_id, EVENT_STATE, {"state": RUNNING, "phase": phase, "message": f"phase {phase}"}
                )

    def job_note(self, job_id: str, message: str) -> None:
        """A state event with a message for the user while the job runs (e.g. its worker was replaced)."""
        record = self.jobs.update(job_id, message=message)
        self._emit(job_id, EVENT_STATE, {"state": record.state, "phase": record.phase, "message": message})

    def job_finished(
        self, job_id: str, session: Any | None, outcome: str, error: dict[str, str] | None
    ) -> None:
        self._ticks.pop(job_id, None)
        try:
            self.jobs.get(job_id)
        except NotFoundError:  # deleted while it ran
            return
        if session is not None and outcome != FAILED:
            try:
                self.job_tick(job_id, session, force=True)
            except Exception:  # noqa: BLE001 - progress is cosmetic here
                log.exception("job %s: final progress", job_id)
        if outcome == "interrupted":
            self._set_state(job_id, QUEUED, "the server stopped; the job resumes at the next start")
            return
        messages = {
            COMPLETED: "edit finished",
            CANCELLED: "cancelled",
            FAILED: (error or {}).get("message", ""),
        }
        self._finish(job_id, outcome, error, messages.get(outcome, outcome))

    # --- helpers ------------------------------------------------------------------------------------

    def _finish(self, job_id: str, state: str, error: dict[str, str] | None, message: str) -> JobRecord:
        changes: dict[str, Any] = {"error": error}
        if state == COMPLETED:
            changes.update(phase="done", progress=1.0, eta_seconds=0.0)
        record = self._set_state(job_id, state, message, **changes)
        if error is not None:
            self._emit(job_id, EVENT_ERROR, dict(error))
        self._emit(job_id, EVENT_DONE, {"state": state})
        log.info("job %s %s%s", job_id, state, f": {error['message']}" if error else "")
        return record

    def _set_state(self, job_id: str, state: str, message: str, **changes: Any) -> JobRecord:
        record = self.jobs.update(job_id, state=state, message=message, **changes)
        self._emit(job_id, EVENT_STATE, {"state": state, "phase": record.phase, "message": message})
        return record

    def _emit(self, job_id: str, kind: str, data: dict[str, Any]) -> None:
        event = self.jobs.events(job_id).append(kind, data)
        self.publish(job_id, event)
