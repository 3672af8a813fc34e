import io
from contextlib import contextmanager

import pytest
from placewise.api.settings import ApiSettings

TOKEN = "tok-SECRET-0042"


class Landing:
    """A sink factory that records which sinks were kept and which were thrown away."""

    def __init__(self):
        self.opened = 0
        self.discarded: list[bytes] = []
        self.kept: list[bytes] = []

    @contextmanager
    def open(self):
        self.opened += 1
        buffer = io.BytesIO()
        try:
            yield buffer
        except BaseException:
            self.discarded.append(buffer.getvalue())
            raise
        self.kept.append(buffer.getvalue())


@pytest.fixture
def settings():
    return ApiSettings(
        base_url="https://api.test",
        token=TOKEN,
        user_agent="tests/1",
        product_name="warehouse-tests",
        organization="acme",
        timeout_s=5.0,
    )


@pytest.fixture
def landing():
    return Landing()
