"""Repositories, their metadata and their branch protection rules."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Header, Response
from fastapi.responses import JSONResponse

from infra.lakefs_server import serialize
from infra.lakefs_server.routes.deps import Service
from infra.lakefs_server.schemas import (
    BranchProtectionRule,
    RepositoryCreation,
    RepositoryMetadataKeys,
    RepositoryMetadataSet,
)

router = APIRouter()
REPO = "/repositories/{repository}"


@router.get("/repositories")
def list_repositories(
    service: Service, prefix: str = "", after: str = "", amount: int | None = None, search: str = ""
) -> JSONResponse:
    page = service.list_repositories(prefix=prefix, after=after, amount=amount, search=search)
    return JSONResponse(serialize.page(page, lambda _, repo: serialize.repository(repo)))


@router.post("/repositories", status_code=201)
def create_repository(service: Service, body: RepositoryCreation, bare: bool = False) -> JSONResponse:
    repo = service.create_repository(
        body.name,
        body.storage_namespace,
        body.default_branch or "main",
        read_only=bool(body.read_only),
        bare=bare,
        sample_data=bool(body.sample_data),
        storage_id=body.storage_id or "",
    )
    return JSONResponse(serialize.repository(repo), status_code=201)


@router.get(REPO)
def get_repository(service: Service, repository: str) -> JSONResponse:
    return JSONResponse(serialize.repository(service.get_repository(repository)))


@router.delete(REPO, status_code=204)
def delete_repository(service: Service, repository: str, force: bool = False) -> Response:
    service.delete_repository(repository, force=force)
    return Response(status_code=204)


@router.get(REPO + "/metadata")
def get_repository_metadata(service: Service, repository: str) -> JSONResponse:
    return JSONResponse(service.get_repository(repository).metadata)


@router.post(REPO + "/metadata", status_code=204)
def set_repository_metadata(service: Service, repository: str, body: RepositoryMetadataSet) -> Response:
    service.update_repository_metadata(repository, set_keys=body.metadata)
    return Response(status_code=204)


@router.delete(REPO + "/metadata", status_code=204)
def delete_repository_metadata(service: Service, repository: str, body: RepositoryMetadataKeys) -> Response:
    service.update_repository_metadata(repository, delete_keys=body.keys)
    return Response(status_code=204)


@router.get(REPO + "/settings/branch_protection")
def get_branch_protection_rules(service: Service, repository: str) -> JSONResponse:
    repo = service.get_repository(repository)
    return JSONResponse([{"pattern": p} for p in repo.protection_rules], headers={"ETag": f'"{repo.rules_etag()}"'})


@router.put(REPO + "/settings/branch_protection", status_code=204)
def set_branch_protection_rules(
    service: Service,
    repository: str,
    rules: list[BranchProtectionRule],
    if_match: Annotated[str | None, Header()] = None,
) -> Response:
    service.set_protection_rules(repository, [r.pattern for r in rules], if_match=if_match or None)
    return Response(status_code=204)


@router.get(REPO + "/branch_protection")
def internal_get_branch_protection_rules(service: Service, repository: str) -> JSONResponse:
    return JSONResponse([{"pattern": p} for p in service.get_repository(repository).protection_rules])


@router.post(REPO + "/branch_protection", status_code=204)
def internal_create_branch_protection_rule(service: Service, repository: str, rule: BranchProtectionRule) -> Response:
    service.add_protection_rule(repository, rule.pattern)
    return Response(status_code=204)


@router.delete(REPO + "/branch_protection", status_code=204)
def internal_delete_branch_protection_rule(
    service: Service, repository: str, rule: Annotated[BranchProtectionRule, Body()]
) -> Response:
    service.delete_protection_rule(repository, rule.pattern)
    return Response(status_code=204)


@router.get(REPO + "/branch_protection/set_allowed", status_code=204)
def create_branch_protection_rule_preflight(service: Service, repository: str) -> Response:
    service.get_repository(repository)
    return Response(status_code=204)
