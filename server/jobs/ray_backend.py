"""The Ray backend: each running job is an actor (`ray_actor.JobActor`) on any node with a free GPU.

The server keeps the queue (creation order), the event log and every job's state; Ray places the actors
and restarts one whose process or node is lost (`Settings.ray_job_restarts` times), and the restarted actor
resumes the job from its last checkpoint in the shared workspace. One thread per running job polls its
actor and hands what it reports to the job service through the same `JobRunner` calls as the embedded
worker, so events, SSE replay and the state machine are unchanged.

Capacity is the cluster's GPU count (one GPU per job), or its CPU count on a cluster without GPUs (one CPU
per job, for tests and demos); it is read again whenever a job could start, so nodes that join are used.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import ray
from ray.exceptions import ActorDiedError, GetTimeoutError, RayActorError
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from in2n_protocol.wire import CANCELLED, FAILED

from ..config import Settings
from ..engine.types import EngineEvent
from ..fileio import write_json_atomic
from .errors import ConflictError
from .ray_actor import JobActor
from .sessions import SessionSpec
from .worker import JobRunner, classify_error

log = logging.getLogger(__name__)

POLL_WAIT_S = 0.5  # how long an actor holds a poll open waiting for news
CALL_TIMEOUT_S = 600.0  # a preview or an export of a running job
NAMESPACE = "in2n"
WORKER_FILE = "worker.json"  # in the job's folder: where its actor runs now


class WorkspaceNotSharedError(RuntimeError):
    """A Ray node cannot see the workspace at the server's path."""


class RemoteJobRunner(JobRunner, Protocol):
    """The job service as the Ray backend needs it: the worker's calls, plus a job's spec and a note."""

    def session_spec(self, job_id: str) -> SessionSpec: ...

    def job_note(self, job_id: str, message: str) -> None: ...


@dataclass(frozen=True)
class SessionView:
    """What the job service reads from a session (its progress), for a session that lives in an actor."""

    progress: Any


@dataclass
class _RemoteJob:
    job_id: str
    actor: Any
    thread: threading.Thread
    cancel_requested: bool = False


class RayBackend:
    """`JobBackend` on a Ray cluster: `ray.init` at start, actors per job, `ray.shutdown` at stop."""

    def __init__(self, runner: RemoteJobRunner, settings: Settings) -> None:
        self._runner = runner
        self._settings = settings
        self._workspace = Path(settings.workspace).resolve()
        self._lock = threading.Condition()
        self._queue: list[str] = []
        self._running: dict[str, _RemoteJob] = {}
        self._started = False
        self._stopping = False
        self._actor_class: Any = None

    # --- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> None:
        # "auto": a new Ray on this machine, never a leftover `ray start` head that ray.init() would join.
        address = "local" if self._settings.ray == "auto" else self._settings.ray
        try:
            ray.init(address=address, namespace=NAMESPACE, include_dashboard=False, log_to_driver=True)
        except ConnectionError as error:
            raise ConnectionError(
                f"cannot join the Ray cluster at {address}: {error}. Is `ray start --head` running there? "
                "Ray 2.59+ clusters authenticate with a token: start the head, the workers and this server "
                "with the same RAY_AUTH_MODE and RAY_AUTH_TOKEN (or token file), see docs/server.md"
            ) from error
        check_shared_workspace(self._workspace)
        self._actor_class = ray.remote(JobActor)
        resources = ray.cluster_resources()
        log.info(
            "Ray cluster: %d node(s), %g GPU(s), %g CPU(s): up to %d jobs at once",
            len([n for n in ray.nodes() if n.get("Alive")]),
            resources.get("GPU", 0),
            resources.get("CPU", 0),
            self._capacity(),
        )
        with self._lock:
            self._started = True
        self._schedule()

    def stop(self, timeout: float | None = 120.0) -> None:
        """Every running job checkpoints and is reported interrupted (it resumes at the next start)."""
        with self._lock:
            self._stopping = True
            running = list(self._running.values())
        for job in running:
            try:
                ray.get(job.actor.stop.remote(), timeout=timeout)
            except Exception:  # noqa: BLE001 - the actor may already be gone; the job resumes anyway
                log.warning("job %s: its actor did not stop cleanly", job.job_id)
        for job in running:
            job.thread.join(timeout)
        ray.shutdown()

    # --- JobBackend ---------------------------------------------------------------------------------

    def submit(self, job_id: str) -> None:
        with self._lock:
            if job_id not in self._queue and job_id not in self._running:
                self._queue.append(job_id)
        self._schedule()

    def withdraw(self, job_id: str) -> bool:
        with self._lock:
            if job_id in self._queue:
                self._queue.remove(job_id)
                return True
            return False

    def cancel(self, job_id: str) -> bool:
        with self._lock:
            job = self._running.get(job_id)
            if job is None:
                return False
            job.cancel_requested = True
        with contextlib.suppress(RayActorError):  # lost: its polling thread reports it cancelled
            ray.get(job.actor.cancel.remote(), timeout=60)
        return True

    def is_running(self, job_id: str) -> bool:
        with self._lock:
            return job_id in self._running

    def wait_idle(self, job_id: str, timeout: float) -> bool:
        with self._lock:
            return self._lock.wait_for(lambda: job_id not in self._running, timeout)

    def call_running(self, job_id: str, call: Callable[[Any], Any]) -> concurrent.futures.Future[Any] | None:
        with self._lock:
            job = self._running.get(job_id)
        if job is None:
            return None
        future: concurrent.futures.Future[Any] = concurrent.futures.Future()

        def wait() -> None:
            try:
                outcome = ray.get(job.actor.call.remote(call), timeout=CALL_TIMEOUT_S)
            except (RayActorError, GetTimeoutError) as exc:
                future.set_exception(
                    ConflictError(f"job {job_id}'s worker did not answer ({exc.__class__.__name__})")
                )
                return
            if "error" in outcome:
                future.set_exception(outcome["error"])
            else:
                future.set_result(outcome["value"])

        threading.Thread(target=wait, name=f"in2n-call-{job_id}", daemon=True).start()
        return future

    # --- scheduling -----------------------------------------------------------------------------------

    def _capacity(self) -> int:
        resources = ray.cluster_resources()
        gpus = int(resources.get("GPU", 0)) if self._settings.device != "cpu" else 0
        return gpus if gpus > 0 else int(resources.get("CPU", 0))

    def _actor_options(self) -> dict[str, Any]:
        use_gpu = self._settings.device != "cpu" and ray.cluster_resources().get("GPU", 0) >= 1
        return {
            "num_gpus": 1 if use_gpu else 0,
            "num_cpus": 1,
            "max_restarts": self._settings.ray_job_restarts,
            "max_task_retries": -1,  # calls wait for a restarted actor instead of failing
            "max_concurrency": 8,  # polls, previews and cancels while the worker thread trains
        }

    def _schedule(self) -> None:
        """Start waiting jobs, oldest first, while the cluster has room."""
        while True:
            with self._lock:
                if not self._started or self._stopping or not self._queue:
                    return
                if len(self._running) >= self._capacity():
                    return
                job_id = self._queue.pop(0)
            try:
                spec = self._runner.session_spec(job_id)
            except Exception as exc:  # e.g. its scene was deleted: the job fails, the queue goes on
                self._runner.job_finished(job_id, None, FAILED, classify_error(exc))
                continue
            self._launch(spec)

    def _launch(self, spec: SessionSpec) -> None:
        options = self._actor_options()
        device = "auto" if options["num_gpus"] else "cpu"
        actor = self._actor_class.options(name=f"job-{spec.job_id}-{uuid.uuid4().hex[:6]}", **options).remote(
            spec, self._settings.checkpoint_every, device
        )
        thread = threading.Thread(
            target=self._follow, args=(spec.job_id,), name=f"in2n-ray-{spec.job_id}", daemon=True
        )
        with self._lock:
            self._running[spec.job_id] = _RemoteJob(spec.job_id, actor, thread)
        thread.start()

    # --- one thread per running job ---------------------------------------------------------------

    def _follow(self, job_id: str) -> None:
        """Relay the actor's reports to the job service until the job has finished or its actor is lost."""
        with self._lock:
            job = self._running[job_id]
        incarnation: str | None = None
        cursor = 0
        finished = False
        try:
            while not finished:
                try:
                    news = ray.get(
                        job.actor.poll.remote(incarnation, cursor, POLL_WAIT_S), timeout=POLL_WAIT_S + 60
                    )
                except GetTimeoutError:
                    continue  # restarting or busy: ask again
                except ActorDiedError as exc:  # out of restarts, or its constructor failed
                    outcome = CANCELLED if job.cancel_requested else FAILED
                    error = None if job.cancel_requested else lost_worker_error(exc)
                    self._runner.job_finished(job_id, None, outcome, error)
                    return
                if news["incarnation"] != incarnation:
                    if incarnation is not None:
                        log.warning("job %s: its worker was lost; Ray restarted it", job_id)
                        self._runner.job_note(
                            job_id, "its worker was lost; resuming from the last checkpoint on a new one"
                        )
                    incarnation, cursor = news["incarnation"], 0
                    self._write_worker_file(job_id, job.actor)
                for report in news["reports"]:
                    finished = self._relay(job_id, report) or finished
                cursor = news["cursor"]
                if not finished and news["progress"] is not None:
                    self._runner.job_tick(job_id, SessionView(news["progress"]))
        except Exception:  # never leave a job running in the state machine with nobody following it
            log.exception("job %s: lost track of its actor", job_id)
            self._runner.job_finished(
                job_id,
                None,
                FAILED,
                {"code": "internal_error", "message": "lost track of the job's worker"},
            )
        finally:
            with self._lock:
                self._running.pop(job_id, None)
                self._lock.notify_all()
            with contextlib.suppress(Exception):  # already gone
                ray.kill(job.actor, no_restart=True)
            self._schedule()

    def _relay(self, job_id: str, report: Any) -> bool:
        """Hand one report to the job service; True when it says the job has finished."""
        view = SessionView(report.progress) if report.progress is not None else None
        if report.kind == "started":
            self._runner.job_started(job_id, view)
        elif report.kind == "engine":
            kind, data = report.event
            self._runner.job_engine_event(job_id, view, EngineEvent(kind, data))
        elif report.kind == "finished":
            self._runner.job_finished(job_id, view, report.outcome, report.error)
            return True
        return False

    def _write_worker_file(self, job_id: str, actor: Any) -> None:
        try:
            where = ray.get(actor.where.remote(), timeout=60)
        except Exception:  # noqa: BLE001 - informational only
            return
        job_dir = self._workspace / "jobs" / job_id
        if job_dir.is_dir():
            write_json_atomic(job_dir / WORKER_FILE, {"backend": "ray", **where})
        log.info("job %s runs on %s (pid %s)", job_id, where["host"], where["pid"])


def lost_worker_error(exc: BaseException) -> dict[str, str]:
    return {
        "code": "worker_lost",
        "message": "the job's worker was lost more often than Ray restarts it; resume the job to continue "
        f"from its last checkpoint ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})",
    }


def check_shared_workspace(workspace: Path, timeout: float = 120.0) -> None:
    """Every live node must read a file the server just wrote into the workspace, at the same path."""
    workspace.mkdir(parents=True, exist_ok=True)
    token = uuid.uuid4().hex
    probe = workspace / f".probe-{token}"
    probe.write_text(token, encoding="utf-8")
    try:
        read = ray.remote(num_cpus=0)(_read_probe)
        nodes = [node for node in ray.nodes() if node.get("Alive")]
        refs = [
            read.options(
                scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)
            ).remote(str(probe))
            for node in nodes
        ]
        seen = ray.get(refs, timeout=timeout)
    finally:
        probe.unlink(missing_ok=True)
    blind = [
        node.get("NodeManagerAddress", node["NodeID"])
        for node, text in zip(nodes, seen, strict=True)
        if text != token
    ]
    if blind:
        raise WorkspaceNotSharedError(
            f"the workspace {workspace} is not visible on Ray node(s) {', '.join(blind)}: every node needs "
            "it at the same path (a shared folder: NFS, SMB, a cluster file system; docs/server.md)"
        )


def _read_probe(path: str) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError:
        return None
