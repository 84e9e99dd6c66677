"""A small read-only HTML view of the server's repositories, for the links a person follows from Prefect.

    /ui                                   repositories
    /ui/{repo}                            branches, tags, the default branch's recent commits
    /ui/{repo}/commits/{ref}              a commit: message, committer, metadata, parents, its changes
    /ui/{repo}/objects/{ref}/{path}       an object: size, type, checksum, metadata, a text preview

Real lakeFS has its own UI at the same kind of address (`/repositories/{repo}/commits/{id}`); this
one only reads. Every page needs the server's credentials (basic auth: the browser asks), like the API.
"""

from __future__ import annotations

import gzip
import html
import json
from datetime import UTC, datetime
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from infra.lakefs_server.errors import ApiError

router = APIRouter(prefix="/ui", include_in_schema=False)
PREVIEW_BYTES = 64 * 1024
_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;max-width:70rem;color:#222}
table{border-collapse:collapse;margin:.5rem 0 1.5rem}td,th{border:1px solid #ccc;padding:.25rem .6rem;text-align:left}
th{background:#f3f3f3}code,pre{font-family:ui-monospace,monospace;font-size:.9em}
pre{background:#f7f7f7;padding:1rem;overflow-x:auto;white-space:pre-wrap}a{color:#0645ad}
.added{color:#070}.removed{color:#a00}.changed{color:#a60}nav{margin-bottom:1rem}
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _when(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _page(title: str, crumbs: list[tuple[str, str]], body: str) -> HTMLResponse:
    nav = " / ".join(f'<a href="{_e(href)}">{_e(label)}</a>' for label, href in crumbs)
    return HTMLResponse(
        "<!doctype html><html><head><meta charset='utf-8'>"
        f"<title>{_e(title)}</title><style>{_STYLE}</style></head>"
        f"<body><nav>{nav}</nav><h1>{_e(title)}</h1>{body}</body></html>"
    )


def _table(headers: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    cells = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{cells}</table>"


def _commit_link(repo: str, commit_id: str) -> str:
    return f'<a href="/ui/{quote(repo)}/commits/{quote(commit_id)}"><code>{_e(commit_id[:16])}</code></a>'


def _object_link(repo: str, ref: str, path: str) -> str:
    return f'<a href="/ui/{quote(repo)}/objects/{quote(ref)}/{quote(path)}"><code>{_e(path)}</code></a>'


@router.get("", response_class=HTMLResponse)
def repositories(request: Request) -> HTMLResponse:
    service = request.app.state.service
    repos = service.list_repositories(prefix="", after="", amount=1000, search="").items
    rows = [
        [f'<a href="/ui/{quote(r.key)}">{_e(r.key)}</a>', _e(r.value.default_branch), _e(_when(r.value.creation_date))]
        for r in repos
    ]
    body = _table(["repository", "default branch", "created"], rows) if rows else "<p>No repositories yet.</p>"
    return _page("Repositories", [("repositories", "/ui")], body)


@router.get("/{repo}", response_class=HTMLResponse)
def repository(request: Request, repo: str) -> HTMLResponse:
    service = request.app.state.service
    info = service.get_repository(repo)
    branches = service.list_branches(repo, prefix="", after="", amount=1000, show_hidden=False).items
    tags = service.list_tags(repo, prefix="", after="", amount=1000).items
    log = service.log_commits(repo, info.default_branch, after="", amount=50).items
    body = (
        f"<p>Storage namespace <code>{_e(info.storage_namespace)}</code>; protected branches: "
        f"{_e(', '.join(info.protection_rules) or 'none')}.</p>"
        "<h2>Branches</h2>"
        + _table(["branch", "head"], [[_e(b.key), _commit_link(repo, b.value)] for b in branches])
        + "<h2>Tags</h2>"
        + (_table(["tag", "commit"], [[_e(t.key), _commit_link(repo, t.value)] for t in tags]) or "")
        + f"<h2>Recent commits on {_e(info.default_branch)}</h2>"
        + _table(
            ["commit", "message", "committer", "date"],
            [
                [
                    _commit_link(repo, c.value.id),
                    _e(c.value.message),
                    _e(c.value.committer),
                    _e(_when(c.value.creation_date)),
                ]
                for c in log
            ],
        )
    )
    return _page(repo, [("repositories", "/ui"), (repo, f"/ui/{repo}")], body)


@router.get("/{repo}/commits/{ref}", response_class=HTMLResponse)
def commit(request: Request, repo: str, ref: str) -> HTMLResponse:
    service = request.app.state.service
    found = service.get_commit(repo, ref)
    meta_rows = [[f"<code>{_e(k)}</code>", _e(v)] for k, v in sorted(found.metadata.items())]
    parents = ", ".join(_commit_link(repo, p) for p in found.parents) or "none (the first commit)"
    changes_html = "<p>The first commit: no changes to show.</p>"
    if found.parents:
        changes = service.diff_refs(
            repo, found.parents[0], found.id, three_dot=False, prefix="", delimiter="", after="", amount=1000
        )
        rows = []
        for item in changes.items:
            change = item.value
            if change is None:
                continue
            side = change.after or change.before
            link = _object_link(repo, found.id if change.after else found.parents[0], change.path)
            rows.append([f'<span class="{change.kind}">{change.kind}</span>', link, _e(f"{side.size:,} bytes")])
        more = "<p>(first 1,000 changes shown)</p>" if changes.has_more else ""
        changes_html = (_table(["change", "path", "size"], rows) if rows else "<p>No changes.</p>") + more
    body = (
        _table(
            ["", ""],
            [
                ["id", f"<code>{_e(found.id)}</code>"],
                ["message", _e(found.message)],
                ["committer", _e(found.committer)],
                ["date", _e(_when(found.creation_date))],
                ["parents", parents],
            ],
        )
        + "<h2>Metadata</h2>"
        + (_table(["key", "value"], meta_rows) if meta_rows else "<p>None.</p>")
        + "<h2>Changes</h2>"
        + changes_html
    )
    crumbs = [("repositories", "/ui"), (repo, f"/ui/{repo}"), (found.id[:16], f"/ui/{repo}/commits/{found.id}")]
    return _page(f"Commit {found.id[:16]}", crumbs, body)


def _preview(data: bytes, path: str) -> str:
    if path.endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError):
            return "<p>(a gzip file cut off at the preview size)</p>"
    try:
        text = data[:PREVIEW_BYTES].decode("utf-8")
    except UnicodeDecodeError:
        return "<p>(binary content: no preview)</p>"
    if path.endswith(".json"):
        try:
            text = json.dumps(json.loads(text), indent=2, ensure_ascii=False)
        except ValueError:
            pass
    cut = " (first 64 KiB)" if len(data) > PREVIEW_BYTES else ""
    return f"<h2>Content{cut}</h2><pre>{_e(text)}</pre>"


@router.get("/{repo}/objects/{ref}/{path:path}", response_class=HTMLResponse)
def object_page(request: Request, repo: str, ref: str, path: str) -> HTMLResponse:
    service, blobs = request.app.state.service, request.app.state.blobs
    entry = service.stat_object(repo, ref, path)
    with open(blobs.path(entry.address), "rb") as f:
        data = f.read(PREVIEW_BYTES * 16 if path.endswith(".gz") else PREVIEW_BYTES + 1)
    metadata = json.loads(entry.metadata or "{}")
    body = _table(
        ["", ""],
        [
            ["path", f"<code>{_e(path)}</code>"],
            ["at", _commit_link(repo, service.get_commit(repo, ref).id)],
            ["size", _e(f"{entry.size:,} bytes")],
            ["content type", _e(entry.content_type)],
            ["checksum (md5)", f"<code>{_e(entry.checksum)}</code>"],
            ["uploaded", _e(_when(entry.mtime))],
            ["metadata", _e(json.dumps(metadata)) if metadata else "none"],
        ],
    ) + _preview(data, path)
    return _page(path, [("repositories", "/ui"), (repo, f"/ui/{repo}")], body)


def not_found_page(exc: ApiError) -> HTMLResponse:
    return HTMLResponse(
        f"<!doctype html><title>Not found</title><p>{_e(exc.body().get('message', 'not found'))}</p>",
        status_code=exc.status_code,
    )
