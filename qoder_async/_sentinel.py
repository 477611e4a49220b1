"""`NOT_GIVEN`: the default of arguments where leaving a value out and passing None differ."""

from __future__ import annotations

import enum
from typing import Final, TypeVar, Union

__all__ = ["NOT_GIVEN", "NotGiven", "NotGivenOr"]

T = TypeVar("T")


class NotGiven(enum.Enum):
    """The type of `NOT_GIVEN`: an argument that was left out, so it is not sent at all.

    A one-member enum, so that `value is NOT_GIVEN` narrows the type for mypy and
    pyright: `update(dep_id, schedule=None)` then reads as "clear the schedule" while
    `update(dep_id)` leaves it alone (spec 7.3).
    """

    NOT_GIVEN = "NOT_GIVEN"

    def __repr__(self) -> str:
        return "NOT_GIVEN"

    def __bool__(self) -> bool:
        return False


NOT_GIVEN: Final = NotGiven.NOT_GIVEN

# `NotGivenOr[str | None]`: a str, None (sent as JSON null) or NOT_GIVEN (not sent).
NotGivenOr = Union[T, NotGiven]  # noqa: UP007 - a generic alias mypy accepts on 3.10
