"""The event log (replay after a crash) and the live fan-out (bounded queues, lagging subscribers)."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from in2n_server.jobs.events import EventHub, EventLog


def test_log_replays_after_any_id_and_continues_its_sequence(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    log = EventLog(path)
    for step in range(5):
        log.append("progress", {"step": step})
    assert [e.seq for e in log.read_after(0)] == [1, 2, 3, 4, 5]
    assert [e.data["step"] for e in log.read_after(3)] == [3, 4]

    reopened = EventLog(path)  # as after a restart
    assert reopened.last_seq == 5
    assert reopened.append("done", {"state": "completed"}).seq == 6


def test_a_line_cut_by_a_crash_is_dropped_and_the_next_event_starts_clean(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    log = EventLog(path)
    log.append("state", {"state": "running"})
    log.append("edit", {"image_index": 3})
    with path.open("a") as handle:  # SIGKILL in the middle of a write
        handle.write('{"id": 3, "event": "progr')
    reopened = EventLog(path)
    assert [e.seq for e in reopened.read_after(0)] == [1, 2]
    reopened.append("progress", {"step": 9})
    assert [(e.seq, e.kind) for e in EventLog(path).read_after(0)] == [
        (1, "state"),
        (2, "edit"),
        (3, "progress"),
    ]


def test_events_from_another_thread_reach_every_subscriber_in_order(tmp_path: Path) -> None:
    async def scenario() -> None:
        hub = EventHub(asyncio.get_running_loop(), queue_size=64)
        log = EventLog(tmp_path / "events.jsonl")
        first, second, other = hub.subscribe("j-1"), hub.subscribe("j-1"), hub.subscribe("j-2")

        def worker() -> None:
            for step in range(20):
                hub.publish_threadsafe("j-1", log.append("progress", {"step": step}))

        thread = threading.Thread(target=worker)
        thread.start()
        await asyncio.to_thread(thread.join)
        await asyncio.sleep(0.05)
        for subscription in (first, second):
            seqs = [subscription.queue.get_nowait().seq for _ in range(subscription.queue.qsize())]
            assert seqs == list(range(1, 21))
        assert other.queue.empty()
        hub.unsubscribe(first)
        hub.unsubscribe(second)
        assert hub.subscriber_count("j-1") == 0

    asyncio.run(scenario())


def test_a_slow_subscriber_is_marked_lagged_instead_of_blocking(tmp_path: Path) -> None:
    async def scenario() -> None:
        hub = EventHub(asyncio.get_running_loop(), queue_size=4)
        log = EventLog(tmp_path / "events.jsonl")
        slow = hub.subscribe("j-1")
        for step in range(10):
            hub.publish_threadsafe("j-1", log.append("progress", {"step": step}))
        await asyncio.sleep(0.05)
        assert slow.lagged and slow.queue.qsize() == 4
        # A lagged subscriber catches up from the log: nothing is lost.
        assert [e.seq for e in log.read_after(slow.queue.get_nowait().seq)] == list(range(2, 11))

    asyncio.run(scenario())
