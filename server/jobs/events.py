"""Job events: an append-only log on disk (the source of truth) and a live fan-out to SSE subscribers.

The worker thread appends to the log and then hands the event to the event loop with
`loop.call_soon_threadsafe`. Each subscriber has a bounded queue; a subscriber that falls behind is
marked `lagged` and re-reads from the log instead of blocking the worker or growing without bound.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    """One SSE event: `seq` is the per-job sequence id (from 1), `kind` the SSE `event:` name."""

    seq: int
    kind: str
    data: dict[str, Any]

    def to_line(self) -> str:
        return json.dumps({"id": self.seq, "event": self.kind, "data": self.data}, separators=(",", ":"))


class EventLog:
    """`events.jsonl` of one job. Appends are flushed to the OS, so a SIGKILL loses nothing written.

    A line cut short by a crash (no trailing newline) is removed when the log is opened, so the next
    append starts on a fresh line and sequence ids continue from the last complete event.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._repair()
        events = self.read_after(0)
        self._next_seq = events[-1].seq + 1 if events else 1

    @property
    def last_seq(self) -> int:
        return self._next_seq - 1

    def append(self, kind: str, data: dict[str, Any]) -> Event:
        with self._lock:
            event = Event(self._next_seq, kind, data)
            with self.path.open("a", encoding="utf-8") as handle:
                handle.write(event.to_line() + "\n")
                handle.flush()
            self._next_seq += 1
            return event

    def read_after(self, after: int) -> list[Event]:
        """Every complete event with `seq > after`, in order."""
        if not self.path.exists():
            return []
        events = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                raw = json.loads(line)
                event = Event(int(raw["id"]), str(raw["event"]), dict(raw["data"]))
            except (ValueError, KeyError, TypeError):
                log.warning("skipping a damaged line in %s", self.path)
                continue
            if event.seq > after:
                events.append(event)
        return events

    def _repair(self) -> None:
        if not self.path.exists():
            return
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            keep = data.rfind(b"\n") + 1
            log.warning("dropping an incomplete last event in %s (%d bytes)", self.path, len(data) - keep)
            with self.path.open("r+b") as handle:
                handle.truncate(keep)


class Subscription:
    """One SSE client's view of one job's live events."""

    def __init__(self, job_id: str, maxsize: int) -> None:
        self.job_id = job_id
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=maxsize)
        self.lagged = False

    def offer(self, event: Event) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.lagged = True


class EventHub:
    """Fan-out of live events to subscribers; lives on the event loop, fed from any thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop, queue_size: int = 256) -> None:
        self._loop = loop
        self._queue_size = queue_size
        self._subscribers: dict[str, set[Subscription]] = {}

    def publish_threadsafe(self, job_id: str, event: Event) -> None:
        """Called from the worker thread (or the loop itself)."""
        # A closed loop means the server is shutting down; the log on disk has the event.
        with contextlib.suppress(RuntimeError):
            self._loop.call_soon_threadsafe(self._publish, job_id, event)

    def subscribe(self, job_id: str) -> Subscription:
        subscription = Subscription(job_id, self._queue_size)
        self._subscribers.setdefault(job_id, set()).add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subscribers = self._subscribers.get(subscription.job_id)
        if subscribers is not None:
            subscribers.discard(subscription)
            if not subscribers:
                del self._subscribers[subscription.job_id]

    def subscriber_count(self, job_id: str) -> int:
        return len(self._subscribers.get(job_id, ()))

    def _publish(self, job_id: str, event: Event) -> None:
        for subscription in list(self._subscribers.get(job_id, ())):
            subscription.offer(event)
