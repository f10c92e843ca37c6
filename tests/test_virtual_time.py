"""The virtual time of the tests themselves (tests/conftest.py, tests/_virtual.py).

Every test on virtual time starts at 0.0 on a clock of its own, so that its exact assertions on
times hold whatever ran before it in the same process.
"""

from __future__ import annotations

import anyio
import pytest

from ._virtual import VIRTUAL

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("turn", [1, 2, 3])
@pytest.mark.parametrize("anyio_backend", VIRTUAL)
async def test_a_virtual_test_starts_at_zero_whatever_ran_before(turn: int) -> None:
    assert anyio.current_time() == 0.0
    await anyio.sleep(0.1 * turn)  # leaves the clock off zero, and 0.1 is not exact in binary
    assert anyio.current_time() == 0.1 * turn
