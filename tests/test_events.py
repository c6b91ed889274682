from __future__ import annotations

import pytest

from gosmee_trio.errors import StreamIdError
from gosmee_trio.events import (
    StreamIdGenerator,
    format_stream_id,
    is_stream_id,
    parse_stream_id,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1718000000125-0", (1718000000125, 0)), ("0-0", (0, 0)), ("5-17", (5, 17))],
)
def test_parse_stream_id_accepts_redis_shape(
    text: str, expected: tuple[int, int]
) -> None:
    assert parse_stream_id(text) == expected
    assert format_stream_id(expected) == text
    assert is_stream_id(text)


@pytest.mark.parametrize(
    "text", ["", "1", "1-", "-1", "a-b", "1-2-3", " 1-2", "1-2\n", "\u0661-\u0662"]
)
def test_parse_stream_id_rejects_other_shapes(text: str) -> None:
    assert not is_stream_id(text)
    with pytest.raises(
        StreamIdError, match=r"^expected a stream id like '1718000000125-0', got "
    ):
        parse_stream_id(text)


def test_generator_is_strictly_increasing_within_one_ms_and_when_clock_steps_back() -> (
    None
):
    now = [100]
    ids = StreamIdGenerator(lambda: now[0])
    first, second = ids.next(), ids.next()
    now[0] = 50  # the wall clock stepped back
    third = ids.next()
    now[0] = 200
    fourth = ids.next()
    assert first < second < third < fourth
    assert fourth == (200, 0)
    assert third == (100, 3)
