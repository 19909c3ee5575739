"""A multi-part report is whole once its last part and every part before it are in."""

from datetime import UTC, datetime

from central.domain.device_reports import ReportPart, assemble

AT = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)


def part(seq_no, tbc, variables):
    return ReportPart(5, seq_no, tbc, AT, {"reportData": [{"variable": {"name": v}}
                                                           for v in variables]})


def test_parts_join_in_seq_no_order_only_when_none_is_missing():
    first, second, last = part(0, True, ["a"]), part(1, True, ["b", "c"]), part(2, False, [])
    assert not assemble("NotifyReport", [first, second]).complete  # tbc: more to come
    assert not assemble("NotifyReport", [first, last]).complete  # part 1 missing
    whole = assemble("NotifyReport", [first, second, last])
    assert whole.complete and whole.parts == 3 and whole.kind == "device-model"
    assert [e["variable"]["name"] for e in whole.content] == ["a", "b", "c"]
    assert assemble("NotifyReport", [first, second]).content is None


def test_customer_information_is_text_cut_into_parts():
    parts = [ReportPart(9, 0, True, AT, {"data": "name: Ada; "}),
             ReportPart(9, 1, False, AT, {"data": "card: 04A1"})]
    report = assemble("NotifyCustomerInformation", parts)
    assert report.content == "name: Ada; card: 04A1"
    assert report.kind == "customer-information"
