"""Storage errors read in the operator's language (issue 17): English from str(), Chinese from text("zh_CN")."""

from __future__ import annotations

import pytest

from storage import StorageError, embedded
from storage.dsn import connect


def test_missing_server_binaries_read_in_chinese(tmp_path, monkeypatch):
    empty = tmp_path / "bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setattr(embedded, "SEARCH_ROOTS", [tmp_path / "nowhere"])
    with pytest.raises(StorageError) as info:
        embedded.find_bindir()
    roots = f"{tmp_path / 'nowhere'}/*/bin"
    assert str(info.value) == (f"PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH or in "
                               f"{roots}; install them (Debian: apt-get install postgresql) or set JIANGUAN_DSN "
                               "to an existing server")
    assert info.value.text("en") == str(info.value)
    assert info.value.text("zh_CN") == (f"在 PATH 和 {roots} 中均未找到 PostgreSQL 服务端程序"
                                        "（initdb、pg_ctl、postgres）；请安装（Debian：apt-get install postgresql），"
                                        "或将 JIANGUAN_DSN 设为已有的数据库服务器")


def test_invalid_dsn_reads_in_chinese_and_keeps_the_password_out():
    with pytest.raises(StorageError) as info:
        connect("host=x password='unterminated-s3cr3t")
    detail = info.value.values["detail"]
    assert str(info.value) == f"invalid PostgreSQL DSN ({detail})"
    assert info.value.text("zh_CN") == f"PostgreSQL 连接串（DSN）无效（{detail}）"
    assert "s3cr3t" not in info.value.text("zh_CN")
