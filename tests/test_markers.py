"""The fast set (`make check`) leaves out every test that asks for a real component."""

from __future__ import annotations

from typing import Any, cast

import pytest

from tests.conftest import mark_real_parts


class FakeItem:
    """The two calls mark_real_parts makes on a pytest.Item, and the fixtures it asked for."""

    def __init__(self, *fixtures: str, marked: tuple[str, ...] = ()) -> None:
        self.fixturenames = list(fixtures)
        self.marks: list[str] = list(marked)

    def get_closest_marker(self, name: str) -> Any:
        return name if name in self.marks else None

    def add_marker(self, marker: pytest.MarkDecorator) -> None:
        self.marks.append(marker.name)


def test_real_component_fixtures_bring_their_marker() -> None:
    items = [
        FakeItem("tmp_path", "pg_engine", "pg_url", "postgres_server"),
        FakeItem("prometheus_server", "chromium"),
        FakeItem("livekit_server_bin", "promtool", marked=("prometheus",)),
        FakeItem("tmp_path", "monkeypatch"),
    ]
    mark_real_parts(cast(list[pytest.Item], items))
    assert [item.marks for item in items] == [
        ["postgres"],
        ["browser", "prometheus"],
        ["prometheus", "e2e"],
        [],
    ]
