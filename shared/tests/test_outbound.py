"""A URL whose host no resolver takes is refused in words, not an exception of the resolver
(command-api's tests/test_webhook_targets.py has the address rules)."""

from __future__ import annotations

import pytest

from csms_shared.outbound import RefusedTarget, check_target


@pytest.mark.parametrize("url", ["http://a..b/x", "http://" + "a" * 70 + ".example/x"])
async def test_a_host_the_resolver_refuses_is_a_refused_target(url: str) -> None:
    with pytest.raises(RefusedTarget, match="does not resolve"):
        await check_target(url, [], "SOME_SETTING")
