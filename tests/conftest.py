"""Settings for the whole suite: the hypothesis profiles.

They live at the root so that they are loaded before any test module is imported: a module's
``@settings(...)`` copies the profile loaded at its import, so a profile loaded later (from a
sub-folder's conftest) left the Betfair property tests with hypothesis's 200 ms deadline, and a
loaded CI machine failed them on time. The default profile, ``imgfeed-unit``, keeps the property tests modest and *derandomized*, so a run
is deterministic and the whole unit suite stays well under a minute on two cores. It keeps
hypothesis's default number of examples (100) so that it does not slow down expensive tests (state
machines); the protocol-core properties ask for 200 with ``strategies.property_settings``. For a
longer, randomized hunt, run with ``HYPOTHESIS_PROFILE=imgfeed-fuzz``; hypothesis then prints the
failing example to reproduce any find.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "imgfeed-unit",
    max_examples=100,
    deadline=None,  # never fail on time: the machine is shared and CI is slow
    derandomize=True,  # same examples every run: tests are deterministic
    database=None,  # nothing written into the work tree
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "imgfeed-fuzz",
    max_examples=5000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "imgfeed-unit"))
