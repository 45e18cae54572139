"""Fixtures of the jianguan tests: a real webhook receiver on 127.0.0.1 standing in for the commanders."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from jianguan.demo import WebhookReceiver


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver()
    yield r
    r.close()
