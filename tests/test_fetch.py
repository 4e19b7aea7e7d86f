"""Download, mirror, checksum and unsafe-archive behaviour, offline (a local HTTP server stands in)."""

from __future__ import annotations

import functools
import http.server
import io
import os
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest

from sharebench.datasets.errors import ChecksumError, MissingDataError, UnsafeArchiveError
from sharebench.datasets.fetch import fetch_file, fetch_split, md5sum, safe_extract
from sharebench.datasets.load import load_split
from sharebench.datasets.sources import SOURCES, Source, SourceFile
from tests.formats import write_mnist_like


def fake_source(folder: Path, url_base: str = "http://127.0.0.1:9/") -> Source:
    """An idx source whose md5s are those of freshly generated tiny files in `folder`."""
    write_mnist_like(folder)

    def f(name: str) -> SourceFile:
        return SourceFile(name, url_base + name, md5sum(folder / name))

    return Source("tiny", {"train": (f("train-images-idx3-ubyte.gz"), f("train-labels-idx1-ubyte.gz")),
                           "test": (f("t10k-images-idx3-ubyte.gz"), f("t10k-labels-idx1-ubyte.gz"))}, "idx")


@pytest.fixture
def registered(monkeypatch, tmp_path):
    src = fake_source(tmp_path / "official")
    monkeypatch.setitem(SOURCES, "tiny", src)
    return src


def test_mirror_is_tried_first_and_verified(registered, tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    (mirror / "tiny").mkdir(parents=True)
    for f in (tmp_path / "official").iterdir():
        (mirror / "tiny" / f.name).write_bytes(f.read_bytes())
    monkeypatch.setenv("SHAREBENCH_MIRROR", str(mirror))
    arrays, prov = load_split("tiny", "train")
    assert arrays["x"].shape == (20, 28, 28, 1)
    assert prov.origin == "mirror" and prov.checksum_verified
    _, prov2 = load_split("tiny", "train")  # now from the verified cache
    assert prov2.origin == "cache"


def test_checksum_mismatch_names_file_and_md5s(registered, tmp_path, monkeypatch):
    mirror = tmp_path / "mirror"
    (mirror / "tiny").mkdir(parents=True)
    spec = registered.files["test"][0]
    (mirror / "tiny" / spec.name).write_bytes(b"corrupted")
    monkeypatch.setenv("SHAREBENCH_MIRROR", str(mirror))
    with pytest.raises(ChecksumError) as err:
        fetch_file(registered, spec)
    msg = str(err.value)
    assert spec.name in msg and spec.md5 in msg and md5sum(mirror / "tiny" / spec.name) in msg
    assert not (Path(os.environ["SHAREBENCH_DATA"]) / "raw" / "tiny" / spec.name).exists()


def test_corrupt_cached_file_is_quarantined_not_used(registered):
    spec = registered.files["test"][0]
    cached = Path(os.environ["SHAREBENCH_DATA"]) / "raw" / "tiny" / spec.name
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"half a download")
    with pytest.raises(ChecksumError, match=spec.md5):
        fetch_file(registered, spec)
    assert not cached.exists() and cached.with_name(cached.name + ".corrupt").exists()


def test_missing_offline_names_files_and_where_to_put_them(registered):
    with pytest.raises(MissingDataError) as err:
        fetch_split(registered, "train")
    msg = str(err.value)
    assert "offline" in msg
    for spec in registered.files["train"]:
        assert spec.name in msg and spec.url in msg
    assert "raw/tiny" in msg and "SHAREBENCH_MIRROR" in msg and "sharebench import" in msg


@pytest.fixture
def http_server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *a, **k: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()


def test_download_verifies_md5(tmp_path, http_server, monkeypatch):
    root, base = http_server
    src = fake_source(root, base)
    monkeypatch.setitem(SOURCES, "tiny", src)
    monkeypatch.setenv("SHAREBENCH_OFFLINE", "0")
    arrays, prov = load_split("tiny", "test")
    assert prov.origin == "download" and prov.checksum_verified and arrays["y"].shape == (10,)
    # a server that now serves different bytes: refused with both md5s, no file kept under the name
    spec = src.files["train"][0]
    (root / spec.name).write_bytes(b"tampered")
    with pytest.raises(ChecksumError, match=spec.md5):
        fetch_file(src, spec)
    assert not (Path(os.environ["SHAREBENCH_DATA"]) / "raw" / "tiny" / spec.name).exists()


def _zip_with(path: Path, name: str) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("ok/file.txt", "fine")
        zf.writestr(name, "evil")
    return path


@pytest.mark.parametrize("member", ["../escape.txt", "/tmp/sharebench-absolute-escape.txt", "a/../../escape.txt"])
def test_unsafe_zip_is_refused(tmp_path, member):
    archive = _zip_with(tmp_path / "bad.zip", member)
    dest = tmp_path / "out" / "x"
    with pytest.raises(UnsafeArchiveError, match="outside"):
        safe_extract(archive, dest)
    assert not dest.exists() and not (tmp_path / "out" / "escape.txt").exists()
    assert not Path("/tmp/sharebench-absolute-escape.txt").exists()


def test_unsafe_tar_is_refused(tmp_path):
    for name, kind in (("../escape.txt", tarfile.REGTYPE), ("link", tarfile.SYMTYPE)):
        archive = tmp_path / f"bad-{kind!r}.tar"
        with tarfile.open(archive, "w") as tf:
            info = tarfile.TarInfo(name)
            info.type = kind
            if kind == tarfile.SYMTYPE:
                info.linkname = "/etc/passwd"
                tf.addfile(info)
            else:
                info.size = 4
                tf.addfile(info, io.BytesIO(b"evil"))
        dest = tmp_path / "out" / archive.stem
        with pytest.raises(UnsafeArchiveError):
            safe_extract(archive, dest)
        assert not dest.exists() and not (tmp_path / "out" / "escape.txt").exists()


def test_safe_archive_extracts(tmp_path):
    archive = tmp_path / "good.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("images_background/A/character01/0001_01.png", b"x")
    dest = safe_extract(archive, tmp_path / "good")
    assert (dest / "images_background" / "A" / "character01" / "0001_01.png").exists()
