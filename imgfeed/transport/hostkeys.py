"""Host-key policies of the SSH transport: a value, kept apart so configs need not import paramiko."""

from __future__ import annotations

import enum

__all__ = ["HostKeyPolicy"]


class HostKeyPolicy(str, enum.Enum):
    """What to do with a server host key that is not in known_hosts."""

    #: The key must already be in known_hosts (the default, as OpenSSH's StrictHostKeyChecking=yes).
    REJECT = "reject"
    #: Trust on first use: add an unknown key to known_hosts, still reject a *changed* key.
    ACCEPT_NEW = "accept-new"
    #: Accept any key, even a changed one. Loudly named, and logged as a warning on every connect.
    INSECURE_ACCEPT_ANY = "insecure-accept-any"

    def __str__(self) -> str:
        return self.value
