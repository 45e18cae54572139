"""`jianguan business check` and `jianguan report` on a seeded store (JIANGUAN_DSN), errors as one line."""

from __future__ import annotations

import psycopg
from click.testing import CliRunner

from jianguan.cli import cli


def test_business_check_then_report(seeded, role_dsn, tmp_path, monkeypatch):
    monkeypatch.setenv("JIANGUAN_DSN", seeded)  # the owner's: it migrates; each command works as its own role
    monkeypatch.setenv("JIANGUAN_DSN_BUSINESS", role_dsn("business"))
    monkeypatch.setenv("JIANGUAN_DSN_REPORTS", role_dsn("reports"))
    runner = CliRunner()
    dry = runner.invoke(cli, ["business", "check", "--since", "2024-04-01", "--until", "2024-04-15", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "项发现，用时" in dry.output and "新建告警" not in dry.output
    with psycopg.connect(seeded) as conn:
        before = conn.execute("SELECT count(*) FROM alerts").fetchone()[0]
    real = runner.invoke(cli, ["business", "check", "--since", "2024-04-01", "--until", "2024-04-15"])
    assert real.exit_code == 0, real.output
    with psycopg.connect(seeded) as conn:
        after = conn.execute("SELECT count(*) FROM alerts").fetchone()[0]
    opened = int(real.output.split("新建告警 ")[1].split(" 条")[0])
    assert after - before == opened
    out = runner.invoke(cli, ["report", "monthly", "--date", "2024-04-03", "--out", str(tmp_path), "--no-pdf"])
    assert out.exit_code == 0, out.output
    assert (tmp_path / "office-01" / "monthly" / "2024-04" / "report.html").is_file()
    assert "链接待推送给：centre" in out.output
    bad = runner.invoke(cli, ["report", "weekly", "--site", "nowhere", "--out", str(tmp_path)])
    assert bad.exit_code != 0 and "数据库中没有站点 'nowhere'" in bad.output
    bad = runner.invoke(cli, ["business", "check", "--since", "yesterday-ish"])
    assert bad.exit_code != 0 and "不是 ISO 日期或时间：'yesterday-ish'" in bad.output
