"""lakeFS's own Python-wrapper object tests, restated against the embedded server.

These restate treeverse/lakeFS clients/python-wrapper/tests/integration/test_object.py (which CI
cannot fetch), one test per upstream case: the same operations through the official ``lakefs``
client and the same expected values and exceptions. Each test keeps the upstream name and says in
its docstring which case it restates; parametrizations keep upstream's parameters and ids.

Upstream reads fixed data files (CSV, JSON, YAML, XML, parquet, a GIF and a tiny text file) through
pytest-datafiles. We have neither that plugin nor those files, so each test writes data of the same
kind and shape into ``tmp_path`` and runs the same round trip on it. Upstream's ``setup_repo`` is
``plain_repo`` here (no branch protection, ``main`` takes direct writes).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import random
import string
from pathlib import Path
from typing import get_args
from xml.etree import ElementTree

import lakefs
import pandas as pd
import pytest
import yaml
from lakefs.client import Client
from lakefs.exceptions import NotFoundException, ObjectExistsException
from lakefs.object import ObjectWriter, ReadModes, StoredObject, WriteableObject, WriteModes
from PIL import Image

pytestmark = pytest.mark.integration

PRE_SIGN_REASON = (
    "pre-signed transfers: a feature of real lakeFS on object storage that the embedded server does not have "
    "(pre_sign_support is false)"
)
CLOSED = "I/O operation on closed file"


@pytest.fixture
def pre_sign(request: pytest.FixtureRequest, lakefs_client: Client) -> bool:
    """Upstream's indirect ``pre_sign`` parameter: a pre-signed case runs only where the server offers it."""
    if request.param and not lakefs_client.storage_config.pre_sign_support:
        pytest.skip(PRE_SIGN_REASON)
    return request.param


def new_object(repo: lakefs.Repository, client: Client, path: str = "test_obj") -> WriteableObject:
    """An object on ``main`` built from its ids, as upstream builds the ones it uploads to."""
    return WriteableObject(repository_id=repo.properties.id, reference_id="main", path=path, client=client)


def upload_file(repo: lakefs.Repository, source: Path) -> WriteableObject:
    """Write a local file's bytes to ``main`` through the object writer."""
    obj = repo.branch("main").object("test_obj")
    with open(source, "rb") as local, obj.writer() as writer:
        writer.write(local.read())
    return obj


# --- Generated stand-ins for upstream's data files (ASCII, like theirs) ---


def _word(rng: random.Random, low: int = 3, high: int = 10) -> str:
    return "".join(rng.choices(string.ascii_lowercase, k=rng.randint(low, high))).capitalize()


def _people(count: int, seed: int) -> list[dict[str, str | int]]:
    """Person records with the fields of upstream's CSV/JSON/XML files: id, names, email, gender, IP."""
    rng = random.Random(seed)
    genders = ["Female", "Male", "Non-binary", "Agender", "Bigender", "Genderfluid"]
    rows: list[dict[str, str | int]] = []
    for i in range(1, count + 1):
        first, last = _word(rng), _word(rng)
        rows.append(
            {
                "id": i,
                "first_name": first,
                "last_name": last,
                "email": f"{first[0].lower()}{last.lower()}{i}@{_word(rng).lower()}.example",
                "gender": rng.choice(genders),
                "ip_address": ".".join(str(rng.randint(0, 255)) for _ in range(4)),
            }
        )
    return rows


def write_csv(path: Path) -> Path:
    rows = _people(1000, seed=1)
    with open(path, "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path


def write_json(path: Path) -> Path:
    path.write_text(json.dumps(_people(1000, seed=2)), encoding="utf-8")
    return path


def _nested(rng: random.Random, depth: int) -> object:
    """A random tree of mappings, lists and scalars (ints, floats, booleans, strings), like upstream's YAML."""
    if depth == 0 or rng.random() < 0.25:
        return rng.choice(
            [
                rng.randint(-(2**31), 2**31),
                rng.uniform(-1e9, 1e9),
                rng.random() < 0.5,
                _word(rng).lower(),
            ]
        )
    if rng.random() < 0.5:
        return [_nested(rng, depth - 1) for _ in range(rng.randint(1, 4))]
    return {_word(rng).lower(): _nested(rng, depth - 1) for _ in range(rng.randint(1, 4))}


def write_yaml(path: Path) -> Path:
    rng = random.Random(3)
    tree = {f"{_word(rng).lower()}_{i}": _nested(rng, 6) for i in range(10)}
    path.write_text(yaml.dump(tree, sort_keys=False), encoding="utf-8")
    return path


def write_xml(path: Path) -> Path:
    root = ElementTree.Element("dataset")
    for person in _people(1000, seed=4):
        record = ElementTree.SubElement(root, "record")
        for field, value in person.items():
            ElementTree.SubElement(record, field).text = str(value)
    tree = ElementTree.ElementTree(root)
    ElementTree.indent(tree)  # whitespace text and tails, as in a hand-formatted file
    tree.write(path, encoding="UTF-8", xml_declaration=True)
    return path


def write_parquet(path: Path) -> Path:
    rng = random.Random(5)
    countries = ["Canada", "Russia", "Finland", "Sweden", "Chile", "Kenya", "Peru", "Mongolia"]
    count = 20_000
    frame = pd.DataFrame(
        {
            "lake_id": list(range(1, count + 1)),
            "lake_name": [f"{_word(rng)} {_word(rng)}" for _ in range(count)],
            "country": [rng.choice(countries) for _ in range(count)],
            "depth_m": [round(rng.uniform(0.5, 1600.0), 1) for _ in range(count)],
        }
    )
    frame.to_parquet(path)
    return path


def write_gif(path: Path) -> Path:
    """A small animated GIF, a few frames of moving colour bands."""
    frames = []
    for shift in range(8):
        frame = Image.new("RGB", (48, 48))
        frame.putdata(
            [((x * 5 + shift * 30) % 256, (y * 5) % 256, (shift * 31) % 256) for y in range(48) for x in range(48)]
        )
        frames.append(frame.convert("P"))
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=80, loop=0)
    return path


# --- The restated cases ---


@pytest.mark.parametrize("pre_sign", (True, False), indirect=True)
def test_object_read_seek(plain_repo: lakefs.Repository, lakefs_client: Client, pre_sign: bool) -> None:
    """lakeFS wrapper suite: test_object.py::test_object_read_seek."""
    payload = b"test_data"
    obj = new_object(plain_repo, lakefs_client).upload(data=payload, pre_sign=pre_sign)

    with obj.reader() as fd:
        # Asking for more than there is returns what there is.
        assert fd.read(2 * len(payload)) == payload
        fd.seek(2)
        assert fd.read(5) == payload[2:7]
        assert fd.read() == payload[7:]
        # At the end a read gives an empty result, as a builtin file does.
        assert len(fd.read(1)) == 0

        fd.seek(0)
        for expected in payload:
            assert ord(fd.read(1)) == expected
        assert len(fd.read(1)) == 0

        fd.seek(-4, os.SEEK_END)
        assert fd.read() == payload[-4:]

        # Seeking before the start is refused and leaves the position where it was.
        with pytest.raises(OSError):
            fd.seek(-len(payload) - 1, os.SEEK_CUR)
        assert fd.tell() == len(payload)

        fd.seek(-4, os.SEEK_CUR)
        assert fd.read() == payload[-4:]

        with pytest.raises(io.UnsupportedOperation):
            fd.seek(0, 10)

    assert fd.closed
    with pytest.raises(ValueError, match=CLOSED):
        fd.read(10)
    with pytest.raises(ValueError, match=CLOSED):
        fd.seek(10)
    with pytest.raises(ValueError, match=CLOSED):
        fd.readline()
    with pytest.raises(ValueError, match=CLOSED):
        fd.flush()
    # Closing again is harmless.
    fd.close()


@pytest.mark.parametrize("pre_sign", (True, False))
def test_object_upload_exists(plain_repo: lakefs.Repository, lakefs_client: Client, pre_sign: bool) -> None:
    """lakeFS wrapper suite: test_object.py::test_object_upload_exists."""
    # Upstream passes pre_sign here directly (not through the skipping fixture): the exclusive-create
    # refusal comes from the existence check before any transfer, so both cases run on any server.
    original = b"test_data"
    obj = new_object(plain_repo, lakefs_client).upload(data=original)
    with pytest.raises(ObjectExistsException):
        obj.upload(data="different content", mode="xb", pre_sign=pre_sign)
    with obj.reader() as fd:
        assert fd.read() == original

    replacement = b"new_data"
    again = obj.upload(data=replacement, mode="w")
    with obj.reader() as fd:
        assert fd.read() == replacement
    assert again == obj


@pytest.mark.parametrize("w_mode", get_args(WriteModes))
@pytest.mark.parametrize("r_mode", get_args(ReadModes))
@pytest.mark.parametrize("pre_sign", (True, False), indirect=True)
def test_object_upload_read_different_params(
    plain_repo: lakefs.Repository, lakefs_client: Client, w_mode: str, r_mode: str, pre_sign: bool
) -> None:
    """lakeFS wrapper suite: test_object.py::test_object_upload_read_different_params."""
    # Text bodies go out through urllib3 as ISO-8859-1, so the payload keeps to characters it can encode.
    payload = b"mode check: Hello, lakeFS!"
    obj = new_object(plain_repo, lakefs_client).upload(data=payload, mode=w_mode, pre_sign=pre_sign)

    with obj.reader(mode=r_mode) as fd:
        got = fd.read()
    if "b" in r_mode:
        assert got == payload
    else:
        assert got.encode("utf-8") == payload


def test_object_copy(plain_repo: lakefs.Repository, lakefs_client: Client) -> None:
    """lakeFS wrapper suite: test_object.py::test_object_copy."""
    obj = new_object(plain_repo, lakefs_client).upload(data="test_data", metadata={"foo": "bar"})

    copied = obj.copy("main", "copy_obj")
    source_stat, copy_stat = obj.stat(), copied.stat()

    assert copied != obj
    assert copy_stat.metadata == source_stat.metadata
    assert copy_stat.path != source_stat.path
    assert copy_stat.content_type == source_stat.content_type
    assert copy_stat.mtime >= source_stat.mtime
    assert copy_stat.size_bytes == source_stat.size_bytes
    assert copy_stat.checksum == source_stat.checksum


def test_writer(plain_repo: lakefs.Repository) -> None:
    """lakeFS wrapper suite: test_object.py::test_writer."""
    obj = plain_repo.branch("main").object("test_object")
    with obj.writer() as writer:
        with pytest.raises(io.UnsupportedOperation):
            writer.seek(10)
        assert not writer.readable()
        assert writer.writable()

        writer.write("Hello")
        writer.write(" World!")
        # Nothing reaches the server until the writer closes.
        with pytest.raises(NotFoundException):
            obj.stat()

    assert obj.reader().read() == b"Hello World!"

    writer.close()  # a second close is harmless
    with pytest.raises(ValueError, match=CLOSED):
        writer.write("test")
    with pytest.raises(ValueError, match=CLOSED):
        writer.flush()


@pytest.mark.parametrize("w_mode", get_args(WriteModes))
@pytest.mark.parametrize("r_mode", get_args(ReadModes))
@pytest.mark.parametrize("pre_sign", (True, False), indirect=True)
def test_writer_different_params(plain_repo: lakefs.Repository, w_mode: str, r_mode: str, pre_sign: bool) -> None:
    """lakeFS wrapper suite: test_object.py::test_writer_different_params."""
    obj = plain_repo.branch("main").object("test_object")
    writer = obj.writer(mode=w_mode)

    # One part of a few tens of KB, as upstream has: two sentences, then a third repeated a thousand times.
    parts = [
        "Five boxing wizards jump quickly. How vexingly quick daft zebras jump! "
        + "Bright vixens jump; dozy fowl quack. " * 1000
    ]
    position = 0
    for part in parts:
        position += len(part)
        writer.write(part)
        assert writer.tell() == position

    with pytest.raises(NotFoundException):
        obj.stat()

    # Settings changed while the writer is open apply to the upload at close.
    writer.content_type = "text/plain"
    writer.metadata = {"foo": "bar"}
    writer.pre_sign = pre_sign
    writer.close()

    stat = obj.stat()
    assert stat.metadata == {"foo": "bar"}
    assert stat.content_type == "text/plain"
    assert stat.path == "test_object"
    assert stat.size_bytes == position

    expected = "".join(parts)
    got = obj.reader(mode=r_mode).read()
    if "b" in r_mode:
        assert got.decode("utf-8") == expected
    else:
        assert got == expected


def test_read_byte_by_byte(plain_repo: lakefs.Repository, lakefs_client: Client) -> None:
    """lakeFS wrapper suite: test_object.py::test_read_byte_by_byte."""
    payload = b"test_data"
    obj = new_object(plain_repo, lakefs_client).upload(data=payload, pre_sign=False)

    collected = b""
    reader = obj.reader()
    while byte := reader.read(1):
        collected += byte
    assert collected == payload


def test_read_all(plain_repo: lakefs.Repository, tmp_path: Path) -> None:
    """lakeFS wrapper suite: test_object.py::test_read_all."""
    source = write_csv(tmp_path / "data.csv")
    obj = upload_file(plain_repo, source)

    with open(source, encoding="utf-8") as local:
        assert obj.reader("r").read() == local.read()


def test_read_buffer(plain_repo: lakefs.Repository, tmp_path: Path) -> None:
    """lakeFS wrapper suite: test_object.py::test_read_buffer."""
    source = tmp_path / "small.file"
    source.write_bytes(b"fewer than a hundred bytes")  # one read of 100 takes it all
    obj = upload_file(plain_repo, source)

    with obj.reader(mode="r", pre_sign=False) as fd:
        first = fd.read(100)
        while True:
            more = fd.read(100)
            if more == "":
                break
            pytest.fail("a second read of 100 should find nothing left")

        assert obj.reader("r").read() == first


def test_read_csv(plain_repo: lakefs.Repository, tmp_path: Path) -> None:
    """lakeFS wrapper suite: test_object.py::test_read_csv."""
    source = write_csv(tmp_path / "data.csv")
    obj = upload_file(plain_repo, source)

    uploaded = csv.reader(obj.reader("r"))
    with open(source, encoding="utf-8") as local:
        for uploaded_row, local_row in zip(uploaded, csv.reader(local), strict=False):
            assert uploaded_row == local_row


def test_read_json(plain_repo: lakefs.Repository, tmp_path: Path) -> None:
    """lakeFS wrapper suite: test_object.py::test_read_json."""
    source = write_json(tmp_path / "data.json")
    obj = upload_file(plain_repo, source)

    with open(source, encoding="utf-8") as local:
        assert json.load(obj.reader(mode="r")) == json.load(local)


def test_read_yaml(plain_repo: lakefs.Repository, tmp_path: Path) -> None:
    """lakeFS wrapper suite: test_object.py::test_read_yaml."""
    source = write_yaml(tmp_path / "data.yaml")
    obj = upload_file(plain_repo, source)

    with open(source, encoding="utf-8") as local:
        expected = yaml.load(local, Loader=yaml.Loader)
    assert yaml.load(obj.reader(mode="r"), Loader=yaml.Loader) == expected


def test_read_parquet(plain_repo: lakefs.Repository, tmp_path: Path) -> None:
    """lakeFS wrapper suite: test_object.py::test_read_parquet."""
    source = write_parquet(tmp_path / "data.parquet")
    obj = upload_file(plain_repo, source)

    uploaded = pd.read_parquet(obj.reader("rb"))
    with open(source, "rb") as local:
        assert pd.read_parquet(local).equals(uploaded)


def test_read_xml(plain_repo: lakefs.Repository, tmp_path: Path) -> None:
    """lakeFS wrapper suite: test_object.py::test_read_xml."""
    source = write_xml(tmp_path / "data.xml")
    obj = upload_file(plain_repo, source)

    uploaded_root = ElementTree.parse(obj.reader(mode="r")).getroot()
    local_root = ElementTree.parse(source).getroot()

    def same(a: ElementTree.Element, b: ElementTree.Element) -> None:
        assert (a.tag, a.attrib, a.text, a.tail) == (b.tag, b.attrib, b.text, b.tail)

    same(uploaded_root, local_root)
    # Upstream compares the records' fields, two levels down.
    for uploaded_record, local_record in zip(uploaded_root, local_root, strict=False):
        for uploaded_field, local_field in zip(uploaded_record, local_record, strict=False):
            same(uploaded_field, local_field)


def test_readline_no_newline(plain_repo: lakefs.Repository, lakefs_client: Client) -> None:
    """lakeFS wrapper suite: test_object.py::test_readline_no_newline."""
    payload = b"test_data"
    obj = new_object(plain_repo, lakefs_client).upload(data=payload, pre_sign=False)

    assert obj.reader().readline() == payload
    assert obj.reader().readline() == payload


def test_readline_partial_line_buffer(plain_repo: lakefs.Repository, lakefs_client: Client) -> None:
    """lakeFS wrapper suite: test_object.py::test_readline_partial_line_buffer."""
    text = "a" * 15 + "\n" + "b" * 25 + "\n" + "That is all folks! "
    obj = new_object(plain_repo, lakefs_client).upload(data=text, pre_sign=False)

    with obj.reader(mode="r") as reader:
        reader.seek(5)
        assert reader.readline() == "a" * 10 + "\n"
        assert reader.readline() == "b" * 25 + "\n"
        assert reader.readline() == "That is all folks! "
        assert reader.readline() == ""
        reader.seek(0)
        assert reader.readline() == "a" * 15 + "\n"
        assert reader.read() == text[16:]

    # With a limit of 10: each call returns up to 10 characters, stopping after a newline.
    remaining = text
    with obj.reader(mode="r") as reader:
        for _ in range(math.ceil(len(text) / 10)):
            newline = remaining.find("\n")
            end = newline + 1 if -1 < newline < 10 else 10
            expected, remaining = remaining[:end], remaining[end:]
            assert reader.readline(10) == expected
        assert reader.read() == ""


def test_write_read_csv(plain_repo: lakefs.Repository) -> None:
    """lakeFS wrapper suite: test_object.py::test_write_read_csv."""
    header = ["ID", "Name", "Email"]
    rows = [
        ["1", "Dana", "dana@example.org"],
        ["2", "Eli", "eli@example.org"],
        ["3", "Farah", "farah@example.org"],
    ]
    obj = plain_repo.branch("main").object(path="csv/sample_data.csv")

    with obj.writer(mode="w", pre_sign=False, content_type="text/csv") as fd:
        out = csv.writer(fd)
        out.writerow(header)
        out.writerows(rows)

    for i, row in enumerate(csv.reader(obj.reader(mode="r"))):
        assert row == (header if i == 0 else rows[i - 1])


def test_reader_with_failure(plain_repo: lakefs.Repository) -> None:
    """lakeFS wrapper suite: test_object.py::test_reader_with_failure."""
    # Despite its name upstream, this case is about a writer whose block raises.
    obj = plain_repo.branch("main").object("test_object")

    try:
        with obj.writer() as writer:
            writer.write("Hello World!")
            raise ValueError("failure inside the writer's block")
    except ValueError:
        pass

    with pytest.raises(ValueError, match=CLOSED):
        writer.write("test")
    # The aborted writer uploaded nothing.
    assert not obj.exists()


def test_writer_with_failure(plain_repo: lakefs.Repository, lakefs_client: Client) -> None:
    """lakeFS wrapper suite: test_object.py::test_writer_with_failure."""
    # Despite its name upstream, this case is about a reader whose block raises.
    obj = new_object(plain_repo, lakefs_client).upload(data=b"test_data")

    try:
        with obj.reader() as reader:
            reader.read()
            raise ValueError("failure inside the reader's block")
    except ValueError:
        pass

    assert reader.closed
    with pytest.raises(ValueError, match=CLOSED):
        reader.read()


def test_writer_discard(plain_repo: lakefs.Repository) -> None:
    """lakeFS wrapper suite: test_object.py::test_writer_discard."""
    obj = plain_repo.branch("main").object("test_object")

    with obj.writer() as writer:
        writer.write("Hello World!")
        writer.discard()
        assert writer.closed

    assert not obj.exists()


def test_writer_gif(plain_repo: lakefs.Repository, tmp_path: Path) -> None:
    """lakeFS wrapper suite: test_object.py::test_writer_gif."""
    image = Image.open(write_gif(tmp_path / "animated.gif"))
    # The writer's name is the object's path: Pillow picks the GIF encoder from its extension.
    obj = plain_repo.branch("main").object("animated.gif")

    with obj.writer() as writer:
        image.save(writer, save_all=True, optimize=False, disposal=3)

    assert obj.exists()
    image.close()


@pytest.mark.parametrize("w_mode", get_args(WriteModes))
def test_large_file_object_write(plain_repo: lakefs.Repository, lakefs_client: Client, w_mode: str) -> None:
    """lakeFS wrapper suite: test_object.py::test_large_file_object_write."""
    stored = StoredObject(
        repository_id=plain_repo.properties.id, reference_id="main", path="test_binary_mode", client=lakefs_client
    )
    writer = ObjectWriter(stored, mode=w_mode, client=lakefs_client)

    # One byte over the writer's 32 MiB in-memory spool, so its buffer rolls over to a file on disk.
    blob = b"\x00" * (32 * 1024 * 1024 + 1)
    writer._fd.write(blob)
    writer._fd.seek(0)
    assert writer._fd.read() == blob, "the spooled buffer gave back other bytes than were written"

    writer.close()
