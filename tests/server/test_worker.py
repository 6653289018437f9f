"""The training thread's logic: queueing, cooperative cancel, calls served between steps, CUDA OOM.

The sessions here are stand-ins that count steps (a CUDA out-of-memory error cannot happen on this
machine); the real engine runs in the end-to-end tests.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import torch

from in2n_server.editor.loading import EditorUnavailableError
from in2n_server.engine.dataset import DatasetError
from in2n_server.jobs.worker import OOM_MESSAGE, Worker, classify_error


class CountingSession:
    def __init__(self, steps: int, fail_at: int | None = None, error: Exception | None = None) -> None:
        self.steps, self.fail_at, self.error = steps, fail_at, error
        self.step = 0
        self.stepping = threading.Event()

    def run(self, should_stop: Any, checkpoint_every: int = 200) -> bool:
        while self.step < self.steps and not should_stop():
            if self.fail_at is not None and self.step == self.fail_at:
                raise self.error or RuntimeError("boom")
            self.step += 1
            self.stepping.set()
            time.sleep(0.002)
        return self.step >= self.steps


class RecordingRunner:
    def __init__(self, sessions: dict[str, CountingSession]) -> None:
        self.sessions = sessions
        self.finished: dict[str, tuple[str, dict | None]] = {}
        self.order: list[str] = []
        self.done = threading.Event()

    def open_session(self, job_id: str, on_event: Any) -> CountingSession:
        self.order.append(job_id)
        return self.sessions[job_id]

    def job_started(self, job_id: str, session: Any) -> None:
        pass

    def job_engine_event(self, job_id: str, session: Any, event: Any) -> None:
        pass

    def job_tick(self, job_id: str, session: Any) -> None:
        pass

    def job_finished(self, job_id: str, session: Any, outcome: str, error: dict | None) -> None:
        self.finished[job_id] = (outcome, error)
        if len(self.finished) == len(self.sessions):
            self.done.set()


def run_jobs(sessions: dict[str, CountingSession], action: Any = None) -> RecordingRunner:
    runner = RecordingRunner(sessions)
    worker = Worker(runner, checkpoint_every=10)
    worker.start()
    for job_id in sessions:
        worker.submit(job_id)
    if action is not None:
        action(worker)
    assert runner.done.wait(30)
    worker.stop()
    return runner


def test_jobs_run_one_at_a_time_in_order() -> None:
    runner = run_jobs({"a": CountingSession(20), "b": CountingSession(5)})
    assert runner.order == ["a", "b"]
    assert runner.finished == {"a": ("completed", None), "b": ("completed", None)}


def test_cancel_stops_between_steps() -> None:
    session = CountingSession(100_000)

    def cancel(worker: Worker) -> None:
        assert session.stepping.wait(10)
        assert worker.cancel("a")

    runner = run_jobs({"a": session}, cancel)
    assert runner.finished["a"] == ("cancelled", None)
    assert 0 < session.step < 100_000


def test_calls_for_the_running_job_run_on_the_training_thread() -> None:
    session = CountingSession(100_000)
    seen: dict[str, Any] = {}

    def call(worker: Worker) -> None:
        assert session.stepping.wait(10)
        future = worker.call_running("a", lambda s: (threading.current_thread().name, s.step))
        assert future is not None and worker.call_running("other", lambda s: None) is None
        seen["thread"], seen["step"] = future.result(10)
        worker.cancel("a")

    run_jobs({"a": session}, call)
    assert seen["thread"] == "in2n-worker" and seen["step"] > 0


def test_cuda_out_of_memory_fails_only_that_job_with_advice() -> None:
    oom = torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    runner = run_jobs({"a": CountingSession(50, fail_at=3, error=oom), "b": CountingSession(5)})
    outcome, error = runner.finished["a"]
    assert outcome == "failed" and error == {"code": "out_of_memory", "message": OOM_MESSAGE}
    assert "lighter tier" in OOM_MESSAGE and "image size" in OOM_MESSAGE
    assert runner.finished["b"] == ("completed", None)


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (torch.cuda.OutOfMemoryError("x"), "out_of_memory"),
        (EditorUnavailableError("no weights"), "editor_unavailable"),
        (DatasetError("frames[2].w", "expected an integer"), "bad_request"),
        (FileNotFoundError("no transforms.json"), "bad_request"),
        # Classified by class, not by name: a look-alike of the editor's error is not one.
        (type("EditorUnavailableError", (RuntimeError,), {})("no weights"), "internal_error"),
        (ValueError("weird"), "internal_error"),
    ],
)
def test_errors_are_classified_for_the_user(error: Exception, code: str) -> None:
    classified = classify_error(error)
    assert classified["code"] == code
    if code != "out_of_memory":  # the OOM advice replaces torch's message
        assert str(error) in classified["message"]


def test_stopping_the_server_interrupts_the_job_for_a_later_resume() -> None:
    session = CountingSession(100_000)
    runner = RecordingRunner({"a": session})
    worker = Worker(runner, checkpoint_every=10)
    worker.start()
    worker.submit("a")
    assert session.stepping.wait(10)
    worker.stop()
    assert runner.finished["a"] == ("interrupted", None)
