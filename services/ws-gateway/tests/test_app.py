"""Process start: the open-file limit is lifted to what the deployment allows."""

from __future__ import annotations

import resource

import pytest

from ws_gateway.app import raise_file_limit


def test_soft_file_limit_is_raised_to_the_hard_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard <= 256:
        pytest.skip(f"hard limit {hard}: nothing to show here")
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))
        before, after, reported_hard = raise_file_limit()
        assert (before, after, reported_hard) == (256, hard, hard)
        assert resource.getrlimit(resource.RLIMIT_NOFILE) == (hard, hard)
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
