"""Transports: how bytes reach the runtime (SSH, a recorded file, or a test's own)."""

from imgfeed.transport.base import DEFAULT_RECV_SIZE, Transport

__all__ = ["Transport", "DEFAULT_RECV_SIZE"]
