"""Model errors read in the operator's language (issue 17): English from str(), Chinese from text("zh_CN")."""

from __future__ import annotations

import pytest

from analytics.detectors import ModelError
from analytics.detectors.yolo import resolve_model


def test_missing_weights_read_in_chinese(tmp_path):
    with pytest.raises(ModelError) as info:
        resolve_model(str(tmp_path / "nope.pt"))
    assert str(info.value) == f"model file not found: {tmp_path / 'nope.pt'}"
    assert info.value.text("zh_CN") == f"找不到模型权重文件：{tmp_path / 'nope.pt'}"
