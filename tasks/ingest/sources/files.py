"""Local files and folders.

A file given by its path is read by its extension; one with an extension no reader knows is an issue
(it was asked for). A folder is read recursively in sorted order, names starting with ``.`` never,
and with these rules:

- Files that hold no records (images, drawings such as ``.excalidraw``, archives, binaries: any
  extension not in ``EXTENSIONS``) are skipped and counted by extension in the folder's manifest
  entry. They are not issues: a documentation folder with its pictures is not invalid data.
- Symbolic links are followed only inside the folder, and nothing is read twice. A link to a folder
  that contains it is a loop, and a link out of the folder or to nothing is not followed: each is an
  issue. A link to something the walk reads anyway under its own path is counted (``already_read``),
  not followed, so a record's URI is its real path; only links into hidden folders are followed.
- A run never reads its own state or output: folders in ``exclude`` (the state directory, the run's
  work folder) and folders holding a ``RUN_OUTPUT_MARKER`` file are left out (``excluded``).
- A folder with nothing to read in it is an issue saying so, not a silent empty input.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from tasks.ingest.records import SourceIssue
from tasks.ingest.sources.base import (
    EXTENSIONS,
    RUN_OUTPUT_MARKER,
    Format,
    Item,
    ManifestEntry,
    SourceConfig,
    count_by_extension,
    format_of,
    new_manifest_entry,
    sha256_file,
    tracked,
)
from tasks.ingest.sources.formats import parse_stream
from tasks.ingest.sources.hf import is_saved_hf_dataset, read_hf_dataset

_SUPPORTED = ", ".join(sorted(EXTENSIONS))


def read_path(
    path: Path,
    uri: str,
    config: SourceConfig,
    manifest: list[ManifestEntry] | None,
    exclude: Sequence[Path] = (),
) -> Iterator[Item]:
    """A saved Hugging Face dataset, a folder (see the module docstring) or a file.

    ``exclude``: resolved paths never read inside a folder (the run's state and work folders)."""
    if not path.exists():
        yield SourceIssue(uri, "file", "no such file or folder")
    elif path.is_dir():
        if is_saved_hf_dataset(path):
            yield from read_hf_dataset(path, config, manifest)
        else:
            yield from _FolderReader(path, uri, config, manifest, exclude).items()
    else:
        yield from _read_file(path, uri, config, manifest)


def extension_of(path: Path) -> str:
    """How a skipped file is counted: its extension in lower case, or ``(none)``."""
    return path.suffix.lower() or "(none)"


def _inside(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


class _FolderReader:
    """One folder source: the walk, what it skipped, and the folder's manifest entry."""

    def __init__(
        self,
        folder: Path,
        uri: str,
        config: SourceConfig,
        manifest: list[ManifestEntry] | None,
        exclude: Sequence[Path],
    ) -> None:
        self.folder, self.uri, self.config, self.manifest = folder, uri, config, manifest
        self.root = folder.resolve()
        # An excluded folder that holds the source itself does not apply: this folder was asked for.
        self.exclude = [e for e in exclude if not _inside(self.root, e)]
        self.entry = new_manifest_entry(manifest, uri, "folder")
        self.skipped: dict[str, int] = {}
        self.already_read = 0
        self.excluded: list[str] = []
        self.hidden = 0
        self.issues = 0
        self.sources_read = 0  # data files and saved datasets
        self.read_dirs: set[Path] = set()
        self.read_files: set[Path] = set()

    def items(self) -> Iterator[Item]:
        started = time.perf_counter()
        try:
            yield from self._walk(self.folder, self.root, frozenset({self.root}))
            if not self.sources_read:
                yield self._issue(self.uri, "folder", self._nothing_to_read())
            if self.entry is not None:
                self.entry.complete = True
        finally:
            if self.entry is not None:
                self.entry.skipped = count_by_extension([self.skipped])
                self.entry.already_read = self.already_read
                self.entry.excluded = self.excluded
                self.entry.issues = self.issues
                self.entry.seconds = round(time.perf_counter() - started, 6)

    def _nothing_to_read(self) -> str:
        what_to_do = f"put the records in it as {_SUPPORTED} files, or give the folder that holds them as the source"
        if not (self.skipped or self.hidden or self.excluded or self.already_read or self.issues):
            return f"empty folder: nothing to read in it; {what_to_do}"
        seen = [f"{n} {ext}" for ext, n in count_by_extension([self.skipped]).items()]
        if self.hidden:
            seen.append(f"{self.hidden} hidden (names starting with '.' are never read)")
        if self.excluded:
            seen.append(f"{len(self.excluded)} run output folder(s)")
        return f"no files with records in the folder (skipped: {', '.join(seen) or 'links only'}); {what_to_do}"

    def _issue(self, where: Path | str, location: str, reason: str) -> SourceIssue:
        self.issues += 1
        return SourceIssue(str(where), location, reason)

    def _excluded(self, real: Path, *, by_link: bool) -> bool:
        """In an excluded folder, or in a folder below the root marked as a run's output. The walk has
        checked the folders above a plain entry already; a link's target needs its whole way checked."""
        if any(_inside(real, e) for e in self.exclude):
            return True
        folder = real if real.is_dir() else real.parent
        while folder != self.root and _inside(folder, self.root):
            if (folder / RUN_OUTPUT_MARKER).exists():
                return True
            if not by_link:
                return False
            folder = folder.parent
        return False

    def _walk(self, folder: Path, real: Path, ancestors: frozenset[Path]) -> Iterator[Item]:
        """``folder`` as the user will see it in URIs; ``real`` its resolved path; ``ancestors`` the
        resolved folders from the root down to it (a link to one of them is a loop)."""
        self.read_dirs.add(real)
        try:
            children = sorted(folder.iterdir())
        except OSError as exc:
            yield self._issue(folder, "folder", f"cannot list the folder: {exc.strerror or exc}")
            return
        for child in children:
            if child.name.startswith("."):
                self.hidden += 1
            elif child.is_symlink():
                yield from self._link(child, ancestors)
            else:  # no link on the way: the real path is the folder's plus the name, no resolve needed
                yield from self._entry(child, real / child.name, ancestors, by_link=False)

    def _link(self, child: Path, ancestors: frozenset[Path]) -> Iterator[Item]:
        """Follow a symbolic link, or say why not."""
        try:
            real = child.resolve(strict=True)
        except (RuntimeError, OSError) as exc:
            # Links that lead to each other in a circle: RuntimeError up to Python 3.12, ELOOP after.
            if isinstance(exc, RuntimeError) or exc.errno == errno.ELOOP:
                yield self._issue(child, "link", "symbolic link loop: the links lead back to each other; not followed")
            else:
                target = os.readlink(child)
                yield self._issue(child, "link", f"broken symbolic link to {target}: nothing there; not followed")
            return
        if real.is_dir() and (real in ancestors or _inside(self.root, real)):
            yield self._issue(
                child, "link", f"symbolic link loop: it points to {real}, a folder that contains it; not followed"
            )
        elif not _inside(real, self.root):
            yield self._issue(
                child,
                "link",
                f"symbolic link to {real}, outside the source folder {self.root}: not followed (links are "
                "followed only inside the folder; give that path as a source of its own to read it)",
            )
        elif self._excluded(real, by_link=True):
            self.excluded.append(str(child))
        elif self._walked(real):
            # The walk reads the target under its own path anyway: every record is read once, named by
            # its real path, whatever the order of the names.
            self.already_read += 1
        else:
            yield from self._entry(child, real, ancestors, by_link=True)

    def _entry(self, child: Path, real: Path, ancestors: frozenset[Path], *, by_link: bool) -> Iterator[Item]:
        """A folder, a file or something else, found at ``child`` (its URI) with real path ``real``."""
        if child.is_dir():
            if not by_link and self._excluded(real, by_link=False):
                self.excluded.append(str(child))
            elif real in self.read_dirs:
                self.already_read += 1
            elif is_saved_hf_dataset(child):
                self.read_dirs.add(real)
                self.sources_read += 1
                yield from read_hf_dataset(child, self.config, self.manifest)
            else:
                yield from self._walk(child, real, ancestors | {real})
        elif child.is_file():
            if real in self.read_files:
                self.already_read += 1
            elif format_of(child.name) is None:
                self.read_files.add(real)
                extension = extension_of(child)
                self.skipped[extension] = self.skipped.get(extension, 0) + 1
            else:
                self.read_files.add(real)
                self.sources_read += 1
                yield from _read_file(child, str(child), self.config, self.manifest)
        else:  # a socket, a pipe, a device, or gone since the listing: never opened (a pipe would block)
            self.skipped["(not a regular file)"] = self.skipped.get("(not a regular file)", 0) + 1

    def _walked(self, real: Path) -> bool:
        """Whether the walk reaches ``real`` (inside the root, not excluded) without following links:
        a resolved path has no link in it, so only a hidden name on the way keeps the walk out."""
        return not any(part.startswith(".") for part in real.relative_to(self.root).parts)


def _read_file(path: Path, uri: str, config: SourceConfig, manifest: list[ManifestEntry] | None) -> Iterator[Item]:
    fmt = format_of(path.name)
    entry = new_manifest_entry(manifest, uri, fmt or "unsupported")
    yield from tracked(entry, _file_items(path, uri, fmt, config, entry))


def _file_items(
    path: Path, uri: str, fmt: Format | None, config: SourceConfig, entry: ManifestEntry | None
) -> Iterator[Item]:
    if fmt is None:
        yield SourceIssue(uri, "file", f"unsupported extension {path.suffix or '(none)'!r} (supported: {_SUPPORTED})")
        return
    try:
        sha256_file(path, entry)
        with path.open("rb") as stream:
            yield from parse_stream(stream, fmt, uri, path.name, config)
    except OSError as exc:
        yield SourceIssue(uri, "file", f"cannot read the file: {exc.strerror or exc}")
