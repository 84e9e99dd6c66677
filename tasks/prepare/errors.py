"""The exceptions the data library raises on purpose.

    LLMOpsError (llmops.errors)
    └── DataError               base of this package's errors; the message says what to change
        └── OutputError         the output folder cannot be prepared or written

Bad *data* never raises: a source reports a ``SourceIssue`` (an unreadable file, an unknown URI
scheme, a URL that answers 404) and carries on with the next record, and a step puts a bad record
in quarantine with its reason. Invalid settings fail when the pydantic config is built.
"""

from __future__ import annotations

from llmops.errors import LLMOpsError


class DataError(LLMOpsError):
    """Base class of the data library's errors."""


class OutputError(DataError):
    """The output folder cannot be prepared or written."""
