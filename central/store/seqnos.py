"""The seqNos of a transaction's stored events, in a few bytes however long it runs."""

from __future__ import annotations

from collections.abc import Iterable, Iterator


class SeqNos:
    """Every seqNo in 0 .. contiguous-1 is in, and any other (after a gap, or below 0: the
    schema allows it) is in `others`: events come in order nearly always, so this stays a
    number and an empty set."""

    def __init__(self, seq_nos: Iterable[int] = ()) -> None:
        self._contiguous = 0
        self._others: set[int] = set()
        for seq_no in seq_nos:
            self.add(seq_no)

    def add(self, seq_no: int) -> None:
        if seq_no != self._contiguous:
            if not 0 <= seq_no < self._contiguous:
                self._others.add(seq_no)
            return
        self._contiguous += 1
        while self._contiguous in self._others:
            self._others.remove(self._contiguous)
            self._contiguous += 1

    def __contains__(self, seq_no: object) -> bool:
        return isinstance(seq_no, int) and (0 <= seq_no < self._contiguous
                                            or seq_no in self._others)

    def __iter__(self) -> Iterator[int]:
        """In ascending order."""
        return iter(sorted([*range(self._contiguous), *self._others]))
