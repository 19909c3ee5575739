"""The outbox: a fleet's stations share one file and keep their own queues; a file
written before queues were shared is carried on."""

import json
import sqlite3

from chargepoint.outbox import Outbox, open_db


def event(seq_no):
    return {"event_type": "Updated", "seq_no": seq_no, "trigger_reason": "MeterValuePeriodic"}


async def test_stations_sharing_a_file_keep_their_own_queues_and_journals(tmp_path):
    shared = open_db(tmp_path / "fleet.db")
    first, second = Outbox(shared=shared, queue="CP-1"), Outbox(shared=shared, queue="CP-2")
    await first.put(event(0), ("evse/1", {"seq_no": 1}))
    await second.put(event(7))
    await first.put(event(1))
    assert (len(first), len(second)) == (2, 1)
    assert second.journal("evse/1") is None and first.journal("evse/1") == {"seq_no": 1}
    head = await first.head()
    assert head.payload == event(0)
    await first.acknowledge(head, {})
    assert (await first.head()).payload == event(1)
    assert (await second.head()).payload == event(7)
    reopened = Outbox(shared=open_db(tmp_path / "fleet.db"), queue="CP-2")
    assert len(reopened) == 1  # on disk, per station


async def test_an_outbox_file_from_before_shared_queues_is_carried_on(tmp_path):
    path = tmp_path / "CP-1001.db"
    old = sqlite3.connect(path)
    old.executescript("""
        CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, payload TEXT NOT NULL,
                             sheddable INTEGER NOT NULL);
        CREATE TABLE journal (key TEXT PRIMARY KEY, state TEXT NOT NULL);
        CREATE TABLE set_aside (id INTEGER PRIMARY KEY, payload TEXT NOT NULL,
                                error TEXT NOT NULL);""")
    old.execute("INSERT INTO outbox (payload, sheddable) VALUES (?, 1)", (json.dumps(event(3)),))
    old.execute("INSERT INTO journal VALUES ('evse/1', ?)", (json.dumps({"seq_no": 4}),))
    old.commit()
    old.close()
    outbox = Outbox(path)
    assert len(outbox) == 1 and (await outbox.head()).payload == event(3)
    assert outbox.journal("evse/1") == {"seq_no": 4}
