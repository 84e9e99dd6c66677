"""The built-in default corpus: Python's own documentation, read from this interpreter, no download.

Two parts, in this order:

1. the pydoc topics in ``pydoc_data.topics`` (the language reference sections ``help()`` shows);
2. the docstrings of the public standard-library modules, found by parsing their source files
   with ``ast``. Modules are never imported: importing runs their top-level code (``antigravity``
   opens a browser, ``this`` prints, ``tkinter`` needs a display).

Every item is a **document**: each topic (the reference section), each module's docstring, and each
public function, class and method (its signature line, then its docstring). Question/answer pairs
are not written here: the prepare stage derives them from these documents as from any others
(`tasks.prepare.pairs`), short answers a reader can check, such as a member's signature.

Order and ids are deterministic: topics sorted by name, then modules by path, members in source
order; ids hash the URI and the qualified name (not the line), so a patch release of Python that
moves code around keeps them. ``count_python_docs()`` counts the corpus of this interpreter.
"""

from __future__ import annotations

import ast
import hashlib
import json
import platform
import sysconfig
from collections.abc import Iterator
from pathlib import Path

from tasks.ingest.records import Kind, Record, SourceIssue, make_id
from tasks.ingest.sources.base import PYTHON_DOCS_URI, ManifestEntry, SourceConfig, new_manifest_entry, tracked

# Folders of the standard library that hold tests, demos, build files or third-party packages.
_SKIP_DIRS = frozenset(
    {"test", "tests", "idle_test", "site-packages", "dist-packages", "lib-dynload", "turtledemo", "__pycache__"}
)

# Top-level modules and packages left out of the corpus: an IDE's internals (idlelib), the Tk GUI
# wrappers (tkinter, turtle), codec tables (encodings), and packages deprecated and removed from later
# Pythons (distutils, lib2to3, msilib) or that only bootstrap pip (ensurepip). They were a quarter of
# the corpus's characters, and questions about them are not what users ask a Python assistant.
_SKIP_TOP_LEVEL = frozenset(
    {"idlelib", "tkinter", "turtle", "encodings", "distutils", "lib2to3", "msilib", "ensurepip"}
)


def stdlib_root() -> Path:
    """The folder of this interpreter's pure-Python standard library."""
    return Path(sysconfig.get_paths()["stdlib"])


def _is_private(part: str) -> bool:
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


def module_files(root: Path) -> list[tuple[str, Path]]:
    """(module name, path) of every public standard-library module under ``root``, sorted by path."""
    found = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        folders = rel.parts[:-1]
        if any(p in _SKIP_DIRS or p.startswith(("config-", ".")) or _is_private(p) for p in folders):
            continue
        stem = path.stem
        if stem == "__main__" or _is_private(stem):
            continue
        parts = [*folders] if stem == "__init__" else [*folders, stem]
        if not parts or parts[0] in _SKIP_TOP_LEVEL:
            continue
        found.append((".".join(parts), path))
    return found


def _public_names(tree: ast.Module) -> set[str] | None:
    """The names in a literal ``__all__``, or None when the module has none."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__" for t in node.targets):  # noqa: SIM102 - one condition per line reads better here
            if isinstance(node.value, ast.List | ast.Tuple):
                names = {e.value for e in node.value.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)}
                return names
    return None


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> str:
    if isinstance(node, ast.ClassDef):
        bases = ", ".join(ast.unparse(b) for b in node.bases)
        return f"({bases})" if bases else ""
    args = ast.unparse(node.args)
    if node.args.args and node.args.args[0].arg in ("self", "cls"):
        args = args.split(", ", 1)[1] if ", " in args else ""
    return f"({args})"


Member = tuple[str, str, str, int]  # qualified name, signature, docstring, line


def module_members(module: str, tree: ast.Module) -> list[Member]:
    """Public functions, classes and methods with a docstring, in source order, first definition wins."""
    public = _public_names(tree)
    members: list[Member] = []
    seen: set[str] = set()

    def add(qualname: str, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        doc = ast.get_docstring(node, clean=True)
        if doc and qualname not in seen:
            seen.add(qualname)
            members.append((qualname, _signature(node), doc, node.lineno))

    for node in tree.body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            continue
        name = node.name
        if (public is not None and name not in public) or (public is None and name.startswith("_")):
            continue
        add(f"{module}.{name}", node)
        if isinstance(node, ast.ClassDef):
            for child in node.body:
                if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef) and not child.name.startswith("_"):
                    add(f"{module}.{name}.{child.name}", child)
    return members


def _record(kind: Kind, key: str, location: str, fields: dict[str, str], meta: dict[str, object]) -> Record:
    fields = {
        "id": make_id(PYTHON_DOCS_URI, key, kind),
        **fields,
        "source": PYTHON_DOCS_URI,
        "meta": json.dumps(meta, sort_keys=True),
    }
    return Record(kind, fields, PYTHON_DOCS_URI, location)


def _topic_records(python: str) -> Iterator[Record]:
    from pydoc_data.topics import topics

    for key in sorted(topics):
        location = f"pydoc_data.topics[{key!r}]"
        meta = {"python": python, "topic": key, "section": "language reference"}
        yield _record("document", f"topic:{key}", location, {"title": key, "text": topics[key]}, meta)


def _module_records(module: str, rel: str, tree: ast.Module, python: str) -> Iterator[Record]:
    """The module's docstring as one document, then one document per public member: its signature
    line, then its docstring (what retrieval should find for a question about that member)."""
    doc = ast.get_docstring(tree, clean=True)
    meta = {"python": python, "module": module, "path": rel}
    if doc:
        yield _record("document", f"module:{module}", f"{rel} module {module}", {"title": module, "text": doc}, meta)
    classes = {node.name for node in tree.body if isinstance(node, ast.ClassDef)}
    for qualname, signature, text, line in module_members(module, tree):
        # A class's line shows its bases, not a call signature: say so, as the reference does.
        head = (
            f"class {qualname}{signature}"
            if qualname.rsplit(".", 1)[-1] in classes and qualname.count(".") == module.count(".") + 1
            else f"{qualname}{signature}"
        )
        yield _record(
            "document",
            f"member:{qualname}",
            f"{rel}:{line} {qualname}",
            {"title": qualname, "text": f"{head}\n\n{text}"},
            {**meta, "qualname": qualname, "signature": signature, "line": line},
        )


def _python_docs_items(root: Path, entry: ManifestEntry | None) -> Iterator[Record | SourceIssue]:
    python = platform.python_version()
    digest = hashlib.sha256()
    from pydoc_data.topics import topics

    topic_bytes = json.dumps(topics, sort_keys=True).encode()
    digest.update(topic_bytes)
    if entry is not None:
        entry.bytes += len(topic_bytes)
        entry.sha256 = digest.hexdigest()
    yield from _topic_records(python)
    for module, path in module_files(root):
        rel = path.relative_to(root).as_posix()
        source = path.read_bytes()
        digest.update(rel.encode() + b"\x00" + source)
        if entry is not None:
            entry.bytes += len(source)
            entry.sha256 = digest.hexdigest()
        try:
            tree = ast.parse(source, filename=rel)
        except (SyntaxError, ValueError) as exc:
            yield SourceIssue(PYTHON_DOCS_URI, rel, f"cannot parse the module source: {exc}")
            continue
        yield from _module_records(module, rel, tree, python)


def read_python_docs(
    config: SourceConfig | None = None, *, manifest: list[ManifestEntry] | None = None, root: Path | None = None
) -> Iterator[Record | SourceIssue]:
    """The default corpus, in a deterministic order; only one kind when ``config.kind`` says so
    (``config.limit`` is applied by ``read_source``)."""
    kind = config.kind if config else "auto"
    entry = new_manifest_entry(manifest, PYTHON_DOCS_URI, "python-docs")
    items = _python_docs_items(root or stdlib_root(), entry)
    if kind != "auto":
        items = (i for i in items if not isinstance(i, Record) or i.kind == kind)
    yield from tracked(entry, items)


def count_python_docs() -> dict[str, int]:
    """How many records of each kind the full default corpus gives on this interpreter."""
    counts = {"instruction": 0, "document": 0, "issues": 0}
    for item in read_python_docs():
        counts[item.kind if isinstance(item, Record) else "issues"] += 1
    return counts
