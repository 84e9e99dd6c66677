"""The exceptions llmops raises on purpose.

    LLMOpsError                 base: everything below carries a message meant for the user
    ├── ConfigError             a setting is missing, unknown or malformed (names the setting)
    └── StackError              the local stack could not be brought up or down
        ├── PortInUseError      a configured port is held by a process that is not ours
        └── ServiceStartError   a service did not become healthy (carries its log tail)

Anything else escaping the CLI is a bug, and is shown with its traceback.
"""

from __future__ import annotations


class LLMOpsError(Exception):
    """Base class of llmops' own errors; the message says what happened and what to do."""


class ConfigError(LLMOpsError):
    """A setting is missing, unknown or malformed."""


class StackError(LLMOpsError):
    """The local stack could not be brought up or down."""


class PortInUseError(StackError):
    """A port the stack needs is held by another process."""

    def __init__(self, service: str, port: int, setting: str) -> None:
        self.service, self.port, self.setting = service, port, setting
        super().__init__(
            f"port {port} for {service} is already in use by another process; stop that process "
            f"or choose a free port with {setting}=<port>"
        )


class ServiceStartError(StackError):
    """A service exited or did not answer its health check in time."""

    def __init__(self, service: str, reason: str, log_tail: str) -> None:
        self.service, self.reason, self.log_tail = service, reason, log_tail
        super().__init__(f"{service} failed to start: {reason}\n--- last lines of its log ---\n{log_tail}")
