"""The set of stored seqNos the central uses to tell a duplicate event from a new one."""

from central.store.seqnos import SeqNos


def test_in_order_events_are_all_remembered() -> None:
    seq_nos = SeqNos(range(1000))
    assert all(n in seq_nos for n in range(1000))
    assert 1000 not in seq_nos
    assert list(seq_nos) == list(range(1000))


def test_a_gap_is_not_taken_for_stored_events_and_closes_when_they_arrive() -> None:
    seq_nos = SeqNos([0, 1, 4, 5])
    assert [n in seq_nos for n in range(7)] == [True, True, False, False, True, True, False]
    seq_nos.add(3)
    seq_nos.add(2)
    assert list(seq_nos) == [0, 1, 2, 3, 4, 5]
    seq_nos.add(6)
    assert 6 in seq_nos and 7 not in seq_nos


def test_duplicates_negatives_and_a_late_start_are_kept_exactly() -> None:
    seq_nos = SeqNos([5, 5, -2, 0, 0, 1])
    assert list(seq_nos) == [-2, 0, 1, 5]
    assert -2 in seq_nos and -1 not in seq_nos and 2 not in seq_nos
    assert "1" not in seq_nos
