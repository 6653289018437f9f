"""Scenes and jobs on disk: one folder each in the workspace, metadata written atomically.

    workspace/
      scenes/<scene_id>/scene.json      SceneSummary + cameras + source
      scenes/<scene_id>/dataset/        the prepared nerfstudio dataset (downscaled)
      jobs/<job_id>/job.json            the job's state (JobPublic)
      jobs/<job_id>/events.jsonl        its event log (SSE replay)
      jobs/<job_id>/session/            the EditSession workdir (checkpoints, edited images)
      jobs/<job_id>/exports/            exported files
      tmp/                              staging for uploads; emptied at start

Ids are generated here and looked up in memory, so a path parameter never reaches the filesystem.
"""

from __future__ import annotations

import copy
import logging
import secrets
import shutil
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from in2n_protocol.wire import QUEUED

from ..fileio import read_json, write_json_atomic
from .errors import NotFoundError
from .events import EventLog

log = logging.getLogger(__name__)


def new_id(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(6)}"


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass
class JobRecord:
    """A job's persistent state; its public form is JobPublic."""

    job_id: str
    scene_id: str
    params: dict[str, Any]
    state: str = QUEUED
    phase: str = QUEUED  # the first phase is named like the state
    step: int = 0
    total_steps: int = 0
    progress: float = 0.0
    eta_seconds: float | None = None
    edits_done: int = 0
    losses: dict[str, float] = field(default_factory=dict)
    error: dict[str, str] | None = None
    message: str = ""
    created_at: str = field(default_factory=utc_now)
    updated_at: str = field(default_factory=utc_now)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobRecord:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


class Workspace:
    """Folder layout of the workspace."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.scenes = root / "scenes"
        self.jobs = root / "jobs"
        self.tmp = root / "tmp"
        for folder in (self.scenes, self.jobs, self.tmp):
            folder.mkdir(parents=True, exist_ok=True)
        for leftover in self.tmp.iterdir():  # staging of requests cut off by a crash
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink()

    def scene_dir(self, scene_id: str) -> Path:
        return self.scenes / scene_id

    def job_dir(self, job_id: str) -> Path:
        return self.jobs / job_id

    def session_dir(self, job_id: str) -> Path:
        return self.job_dir(job_id) / "session"

    def remove_tree(self, path: Path) -> None:
        """Rename into tmp first (atomic), then delete: a crash midway leaves no half folder behind."""
        if not path.exists():
            return
        trash = self.tmp / f"trash-{secrets.token_hex(4)}"
        path.rename(trash)
        shutil.rmtree(trash, ignore_errors=True)


class SceneStore:
    """Scenes are immutable once created: a record is read once and cached."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self._lock = threading.Lock()
        self._scenes: dict[str, dict[str, Any]] = {}
        for folder in sorted(workspace.scenes.iterdir()):
            try:
                self._scenes[folder.name] = read_json(folder / "scene.json")
            except (OSError, ValueError) as error:
                log.warning("ignoring scene folder %s: %s", folder, error)

    def add(self, record: dict[str, Any]) -> None:
        with self._lock:
            self._scenes[record["scene_id"]] = record

    def get(self, scene_id: str) -> dict[str, Any]:
        with self._lock:
            record = self._scenes.get(scene_id)
        if record is None:
            raise NotFoundError(f"no scene {scene_id!r}", field="scene_id")
        return record

    def list(self) -> list[dict[str, Any]]:
        with self._lock:
            return sorted(self._scenes.values(), key=lambda r: (r["created_at"], r["scene_id"]))

    def dataset_dir(self, scene_id: str) -> Path:
        self.get(scene_id)
        return self.workspace.scene_dir(scene_id) / "dataset"

    def remove(self, scene_id: str) -> None:
        with self._lock:
            self._scenes.pop(scene_id, None)
        self.workspace.remove_tree(self.workspace.scene_dir(scene_id))


class JobStore:
    """Jobs in memory, mirrored to `job.json` on every change that matters."""

    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace
        self._lock = threading.RLock()
        self._jobs: dict[str, JobRecord] = {}
        self._logs: dict[str, EventLog] = {}
        for folder in sorted(workspace.jobs.iterdir()):
            try:
                record = JobRecord.from_dict(read_json(folder / "job.json"))
            except (OSError, ValueError, TypeError) as error:
                log.warning("ignoring job folder %s: %s", folder, error)
                continue
            self._jobs[record.job_id] = record
            self._logs[record.job_id] = EventLog(folder / "events.jsonl")

    def create(self, record: JobRecord) -> None:
        folder = self.workspace.job_dir(record.job_id)
        folder.mkdir(parents=True)
        with self._lock:
            self._jobs[record.job_id] = record
            self._logs[record.job_id] = EventLog(folder / "events.jsonl")
            self._write(record)

    def get(self, job_id: str) -> JobRecord:
        """A copy: callers change jobs only through `update`."""
        with self._lock:
            record = self._jobs.get(job_id)
            if record is None:
                raise NotFoundError(f"no job {job_id!r}", field="job_id")
            return copy.deepcopy(record)

    def list(self) -> list[JobRecord]:
        with self._lock:
            records = [copy.deepcopy(r) for r in self._jobs.values()]
        return sorted(records, key=lambda r: (r.created_at, r.job_id))

    def update(self, job_id: str, persist: bool = True, **changes: Any) -> JobRecord:
        with self._lock:
            record = self._jobs.get(job_id)
            if record is None:
                raise NotFoundError(f"no job {job_id!r}", field="job_id")
            for key, value in changes.items():
                setattr(record, key, value)
            record.updated_at = utc_now()
            if persist:
                self._write(record)
            return copy.deepcopy(record)

    def events(self, job_id: str) -> EventLog:
        with self._lock:
            event_log = self._logs.get(job_id)
        if event_log is None:
            raise NotFoundError(f"no job {job_id!r}", field="job_id")
        return event_log

    def remove(self, job_id: str) -> None:
        with self._lock:
            self._jobs.pop(job_id, None)
            self._logs.pop(job_id, None)
        self.workspace.remove_tree(self.workspace.job_dir(job_id))

    def _write(self, record: JobRecord) -> None:
        write_json_atomic(self.workspace.job_dir(record.job_id) / "job.json", record.to_dict())
