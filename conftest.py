"""Settings every test run shares, whichever folder it starts from.

Hypothesis without its per-example deadline: the suite never asserts on time (benchmarks
measure it), and a deadline turns a busy machine into a failure that says nothing about the
code (seen: a 200 ms deadline missed by a round-trip test while other processes ran).
"""

from hypothesis import settings

settings.register_profile("csms", deadline=None)
settings.load_profile("csms")
