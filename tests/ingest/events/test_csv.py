"""`jianguan events import-csv` on real files against a real PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from jianguan.events_cli import events

HEADER = "message_id,window,business_type,ticket,staff,queued_at,called_at,finished_at,remark\n"
GOOD = [
    "tx-1,W01,renewal,A001,s-01,2024-05-01T09:00:00+08:00,2024-05-01T09:03:00+08:00,,first\n",
    "tx-2,W01,transfer,A002,s-01,2024-05-01 09:01:00,2024-05-01 09:10:00,2024-05-01 09:25:30,naive local\n",
    "tx-3,W02,renewal,B001,,2024/05/01 09:05,,,\"slashes, still queued\"\n",
    "tx-1,W01,renewal,A001,s-01,2024-05-01T09:00:00+08:00,2024-05-01T09:03:00+08:00,2024-05-01T09:08:00+08:00,done\n",
]
BAD = [
    ("tx-4,W01,renewal,A004,s-01,2024-05-01 10:00,2024-05-01 10:05,2024-05-01 10:01,\n", "finished_at is before"),
    ("tx-5,W01,renewal,A005,s-01,garbage,,,\n", "queued_at: expected an ISO 8601 date and time"),
    ("tx-6,,renewal,A006,s-01,2024-05-01 10:00,,,\n", "window_id: required"),
    ("tx-7,W01,renewal,A007,s-01,2099-05-01 10:00,,,\n", "queued_at: time in the future"),
    ("tx-8,W01,renewal,A008\n", "4 cells, the header has 9"),
]
GBK_ROW = "tx-9,W03,换证,C001,s-03,2024-05-01 11:00,,,\n".encode("gb18030")


def run(args, dsn):
    return CliRunner().invoke(events, args, env={"JIANGUAN_DSN": dsn}, catch_exceptions=False)


@pytest.fixture
def csv_file(tmp_path):
    path = tmp_path / "queue-export.csv"
    path.write_bytes((HEADER + "".join(GOOD) + "".join(r for r, _ in BAD)).encode() + GBK_ROW + b"\n\n")
    return path


def test_import_good_and_bad_rows_then_again(csv_file, db_dsn, ev):
    r = run(["import-csv", str(csv_file), "--site", "hq"], db_dsn)
    assert r.exit_code == 0, r.output
    assert "10 行：接收 3，更新 1，重复 0，拒收 6" in r.output
    assert "已忽略的列：remark" in r.output
    rows = ev.query(db_dsn, "SELECT message_id, site_id, window_id, staff_id, queued_at, called_at, finished_at,"
                            " wait_s, handle_s FROM transactions ORDER BY message_id")
    assert [r[0] for r in rows] == ["tx-1", "tx-2", "tx-3"]
    assert rows[0][6] == datetime(2024, 5, 1, 1, 8, tzinfo=UTC) and rows[0][7:] == (180.0, 300.0)  # updated
    assert rows[1][4] == datetime(2024, 5, 1, 1, 1, tzinfo=UTC) and rows[1][7:] == (540.0, 930.0)  # +08:00
    assert rows[2][3] is None and rows[2][5] is None and rows[2][7] is None
    dead = ev.query(db_dsn, "SELECT source, reason, payload FROM dead_letters ORDER BY id")
    assert all(d[0] == "csv:queue-export.csv" for d in dead)
    reasons = [d[1] for d in dead]
    for (_, why), reason in zip(BAD, reasons, strict=False):
        assert why in reason
    assert reasons[:5] == [r for r in reasons[:5] if r.startswith(("line 6:", "line 7:", "line 8:", "line 9:",
                                                                  "line 10:"))]
    assert reasons[5] == "line 11: not valid utf-8-sig text" and "\\xbb\\xbb" in dead[5][2]  # 换 in GB18030

    again = run(["import-csv", str(csv_file), "--site", "hq"], db_dsn)
    assert again.exit_code == 0 and "10 行：接收 0，更新 0，重复 4，拒收 6" in again.output
    assert ev.query(db_dsn, "SELECT count(*) FROM transactions")[0][0] == 3


def test_ids_are_derived_when_the_file_has_none(tmp_path, db_dsn, ev):
    path = tmp_path / "no-ids.csv"
    path.write_bytes("window_id,business_type,ticket,queued_at,called_at\n"
                     "W01,换证,A001,2024-05-01 09:00,2024-05-01 09:02\n"
                     "W01,换证,A002,2024-05-01 09:01,\n".encode("gb18030"))
    r = run(["import-csv", str(path), "--site", "hq", "--encoding", "gb18030"], db_dsn)
    assert "2 行：接收 2" in r.output, r.output
    assert "2 行：接收 0，更新 0，重复 2" in run(
        ["import-csv", str(path), "--site", "hq", "--encoding", "gb18030"], db_dsn).output
    assert ev.query(db_dsn, "SELECT DISTINCT business_type FROM transactions") == [("换证",)]
    assert all(m.startswith("csv-") for (m,) in ev.query(db_dsn, "SELECT message_id FROM transactions"))


def test_unreadable_files_exit_non_zero(tmp_path, db_dsn, ev):
    (tmp_path / "bad-header.csv").write_text("when,what\n2024-05-01,x\n")
    (tmp_path / "empty.csv").write_text("")
    for name, message in (("missing.csv", "无法读取"), ("bad-header.csv", "missing column(s) window_id"),
                          ("empty.csv", "empty file"), (".", "无法读取")):
        r = run(["import-csv", str(tmp_path / name), "--site", "hq"], db_dsn)
        assert r.exit_code == 2 and message in r.output, (name, r.output)
    assert ev.query(db_dsn, "SELECT count(*) FROM dead_letters")[0][0] == 0
