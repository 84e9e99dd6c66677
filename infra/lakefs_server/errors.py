"""Errors the server answers with, each mapped to the HTTP status lakeFS uses for it.

Every error reaches the client as lakeFS's error body, ``{"message": "..."}`` (the spec's
``Error`` schema). The tree:

    ApiError                      500  anything unexpected that we still want to word ourselves
    ├── BadRequest                400  invalid names, refs, ranges; "no changes"; dirty branch
    │   └── InvalidRef            400  a ref expression that does not parse
    ├── Unauthorized              401  missing or wrong credentials
    ├── Forbidden                 403  protected branch, read-only repository
    ├── NotFound                  404  repository, branch, tag, commit, ref or object
    ├── Conflict                  409  name already taken
    │   └── MergeConflict         409  both sides of a merge changed the same paths differently
    ├── PreconditionFailed        412  If-Match / If-None-Match on upload
    ├── RangeNotSatisfiable       416  a byte range past the end of an object
    ├── NotImplementedByServer    501  features this server leaves out (If-None-Match other than *)
    └── ServiceUnavailable        503  the metadata store stayed locked past its timeout
"""

from __future__ import annotations

from typing import ClassVar


class ApiError(Exception):
    """An error with the HTTP status and message that the client will see."""

    status_code: ClassVar[int] = 500

    def __init__(self, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.headers = headers or {}

    def body(self) -> dict[str, object]:
        return {"message": self.message}


class BadRequest(ApiError):
    status_code = 400


class InvalidRef(BadRequest):
    """A ref expression such as ``main~x`` that cannot be parsed."""


class Unauthorized(ApiError):
    status_code = 401


class Forbidden(ApiError):
    status_code = 403


class NotFound(ApiError):
    status_code = 404


class Conflict(ApiError):
    status_code = 409


class MergeConflict(Conflict):
    def body(self) -> dict[str, object]:
        # The spec gives this answer the MergeResult schema (which requires "reference") and notes
        # that lakeFS moves to the Error schema: this body satisfies both.
        return {"message": self.message, "reference": ""}


class PreconditionFailed(ApiError):
    status_code = 412


class RangeNotSatisfiable(ApiError):
    status_code = 416

    def __init__(self, size: int) -> None:
        # The official reader learns an object's size from this header when it reads past the end.
        super().__init__("Requested Range Not Satisfiable", headers={"Content-Range": f"bytes */{size}"})


class NotImplementedByServer(ApiError):
    status_code = 501


class ServiceUnavailable(ApiError):
    status_code = 503
