"""The soak (tests/soak.py, `nox -s soak`) at a reduced size, over loopback, on both backends."""

from __future__ import annotations

import pytest

from tests.soak import soak_fan_out, soak_pager

pytestmark = pytest.mark.anyio


@pytest.mark.timeout(30)
async def test_pager_soak_delivers_every_run_in_order_through_503s_429s_and_resets() -> None:
    """2,000 runs in pages of 100 through 20% 503/429 and 5% resets arrive exactly, in order."""
    result = await soak_pager(2000, seed=1)
    assert sum(result.injected.values()) > 0
    assert result.retried > 0
    assert result.ok, result.row()


@pytest.mark.timeout(30)
async def test_fan_out_soak_delivers_everything_with_at_most_one_resume() -> None:
    """200 deployments through 10% 503s at default settings: all runs, none twice, no leak."""
    result = await soak_fan_out(200, seed=1)
    assert result.injected["503"] > 0
    assert result.retried > 0
    assert result.ok, result.row()
