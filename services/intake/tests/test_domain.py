from datetime import datetime, timedelta, timezone

import pytest
from marshmallow import ValidationError

from services.intake import domain

NOW = datetime(2026, 11, 23, 8, 0, tzinfo=timezone.utc)
VALID = {
    "credit_code": "91350100M000100Y43", "enterprise_name": "测试公司", "title": "用工难",
    "description": "招不到熟练工", "district": "甲区", "channel": "visit",
    "collected_at": "2026-11-20T10:00:00",
}


def test_a_valid_submission_loads():
    data = domain.validate_appeal(VALID, NOW)
    assert data["credit_code"] == "91350100M000100Y43"


def test_a_naive_collection_time_is_read_as_shanghai_time():
    data = domain.validate_appeal(VALID, NOW)
    assert data["collected_at"].astimezone(timezone.utc) == datetime(2026, 11, 20, 2, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize("code, reason", [
    ("91350100M000100Y44", "check character"),
    ("9135010", "18 characters"),
    ("91350100M00010OY43", "check character|characters"),
])
def test_a_bad_credit_code_says_why(code, reason):
    with pytest.raises(ValidationError) as caught:
        domain.validate_appeal({**VALID, "credit_code": code}, NOW)
    assert "credit_code" in caught.value.messages
    assert any(word in caught.value.messages["credit_code"][0] for word in reason.split("|"))


def test_every_missing_field_gets_its_own_message():
    with pytest.raises(ValidationError) as caught:
        domain.validate_appeal({"credit_code": VALID["credit_code"]}, NOW)
    assert set(caught.value.messages) == {"enterprise_name", "title", "description", "district", "channel",
                                          "collected_at"}


def test_a_collection_time_in_the_future_is_refused():
    later = (NOW + timedelta(days=1)).isoformat()
    with pytest.raises(ValidationError) as caught:
        domain.validate_appeal({**VALID, "collected_at": later}, NOW)
    assert "collected_at" in caught.value.messages


def test_an_unknown_channel_is_refused():
    with pytest.raises(ValidationError) as caught:
        domain.validate_appeal({**VALID, "channel": "pigeon"}, NOW)
    assert "channel" in caught.value.messages


def test_a_body_that_is_not_an_object_is_refused():
    with pytest.raises(ValidationError):
        domain.validate_appeal(["a", "list"], NOW)


def test_a_sheet_row_reads_chinese_headings():
    row = {"统一社会信用代码": "91350100M000100Y43", "企业名称": "测试公司", "问题标题": "用工难",
           "问题描述": "招不到人", "所属区县": "甲区", "收集时间": datetime(2026, 11, 20, 10, 0),
           "联系人": "王经理", "联系电话": "13800000000", "备注": "ignored"}
    body = domain.sheet_row_to_input(row)
    assert body["channel"] == "sheet"
    assert body["contact"] == {"name": "王经理", "phone": "13800000000"}
    assert domain.validate_appeal(body, NOW)["title"] == "用工难"


def test_the_same_request_has_the_same_fingerprint():
    a = domain.validate_appeal(VALID, NOW)
    b = domain.validate_appeal(dict(VALID), NOW)
    assert domain.request_fingerprint(a) == domain.request_fingerprint(b)
    assert domain.request_fingerprint(a) != domain.request_fingerprint({**a, "title": "别的"})


def test_a_csv_with_bare_cr_line_ends_is_read_like_any_other():
    """Excel's "CSV (Macintosh)" ends lines with a bare CR: it was a 500."""
    from services.intake.sheets import read_csv

    rows = [{"统一社会信用代码": "91350100M000100Y43", "企业名称": "测试公司"},
            {"统一社会信用代码": "x", "企业名称": "y"}]
    for end in ("\r", "\n", "\r\n"):
        text = end.join(["统一社会信用代码,企业名称", "91350100M000100Y43,测试公司", "x,y"]) + end
        assert read_csv(text.encode("gb18030")) == rows
