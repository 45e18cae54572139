"""Source and clip errors read in the operator's language (issue 17): English from str(), Chinese from
text("zh_CN")."""

from __future__ import annotations

import pytest

from ingest import ClipError, SourceError, cut_clip, probe


def test_missing_file_source_reads_in_chinese(tmp_path):
    missing = tmp_path / "cam1.mp4"
    with pytest.raises(SourceError) as info:
        probe(str(missing), timeout_s=2.0)
    assert str(info.value) == f"cannot open {missing}: no such file"
    assert info.value.text("zh_CN") == f"无法打开 {missing}：文件不存在"


def test_uncovered_clip_reads_in_chinese(tmp_path):
    with pytest.raises(ClipError) as info:
        cut_clip([], 1000.0, 1005.0, tmp_path / "none.mp4")
    assert str(info.value) == "no recording covers 1000.0..1005.0"
    assert info.value.text("zh_CN") == "没有覆盖 1000.0..1005.0 的录像"
