"""Test doubles of the domain's `Dispatcher` (pipeline.events.processing)."""

from __future__ import annotations


class Held:
    """A dispatcher that keeps what it is given (a queue nobody reads yet)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, object]] = []

    def dispatch(self, event_id: int) -> None:
        self.sent.append(("event", event_id))

    def dispatch_lists(self, list_keys: list[str]) -> None:
        self.sent.append(("lists", list_keys))

    def dispatch_chunk(self, chunk_id: int) -> None:
        self.sent.append(("chunk", chunk_id))

    def take(self, kind: str) -> list[object]:
        taken = [item for sent, item in self.sent if sent == kind]
        self.sent = [(sent, item) for sent, item in self.sent if sent != kind]
        return taken
