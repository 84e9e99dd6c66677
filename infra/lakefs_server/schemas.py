"""Request bodies, named after their schemas in the lakeFS OpenAPI spec.

Optional fields accept ``null`` as well as absence: the generated clients send either. Unknown
fields are ignored, so newer clients keep working.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class RepositoryCreation(BaseModel):
    name: str
    storage_namespace: str
    default_branch: str | None = None
    sample_data: bool | None = None
    read_only: bool | None = None
    storage_id: str | None = None


class RepositoryMetadataSet(BaseModel):
    metadata: dict[str, str]


class RepositoryMetadataKeys(BaseModel):
    keys: list[str]


class BranchProtectionRule(BaseModel):
    pattern: str = Field(min_length=1)


class BranchCreation(BaseModel):
    name: str
    source: str
    force: bool | None = None
    hidden: bool | None = None


class TagCreation(BaseModel):
    id: str
    ref: str
    force: bool | None = None


class CommitCreation(BaseModel):
    message: str
    metadata: dict[str, str] | None = None
    date: int | None = None
    allow_empty: bool | None = None
    force: bool | None = None


class CommitOverrides(BaseModel):
    message: str | None = None
    metadata: dict[str, str] | None = None


class RevertCreation(BaseModel):
    ref: str
    parent_number: int
    commit_overrides: CommitOverrides | None = None
    force: bool | None = None
    allow_empty: bool | None = None


class CherryPickCreation(BaseModel):
    ref: str
    parent_number: int | None = None
    commit_overrides: CommitOverrides | None = None
    force: bool | None = None


class Merge(BaseModel):
    message: str | None = None
    metadata: dict[str, str] | None = None
    strategy: str | None = None
    force: bool | None = None
    allow_empty: bool | None = None
    squash_merge: bool | None = None


class ResetCreation(BaseModel):
    type: Literal["object", "common_prefix", "reset"]
    path: str | None = None
    force: bool | None = None


class PathList(BaseModel):
    paths: list[str]


class ObjectCopyCreation(BaseModel):
    src_path: str
    src_ref: str | None = None
    force: bool | None = None
    shallow: bool | None = None


class UpdateObjectUserMetadata(BaseModel):
    set: dict[str, str]
