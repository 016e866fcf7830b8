"""The artifact-store contract, run against every backend (local folder and S3 via moto)."""

from __future__ import annotations

import hashlib
import io
import os
import pickle
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from mlops.artifacts import ArtifactInfo, ArtifactStore, sha256_file
from mlops.errors import ArtifactCorruptedError, InvalidInputError, NotFoundError

Corrupt = Callable[[ArtifactStore, str], None]
StoreFactory = Callable[[str], ArtifactStore]

PAYLOAD = bytes(range(256)) * 4099  # ~1 MiB and not chunk-aligned


def test_put_bytes_round_trip_with_hash_and_size(store: ArtifactStore) -> None:
    info = store.put_bytes(PAYLOAD, "runs/1/model.bin")

    assert info == ArtifactInfo(
        uri=store.uri_for("runs/1/model.bin"),
        path="runs/1/model.bin",
        size=len(PAYLOAD),
        sha256=hashlib.sha256(PAYLOAD).hexdigest(),
    )
    assert store.read_bytes("runs/1/model.bin") == PAYLOAD
    assert store.read_bytes(info.uri, sha256=info.sha256) == PAYLOAD
    assert store.size("runs/1/model.bin") == len(PAYLOAD)
    assert store.exists("runs/1/model.bin")


def test_put_file_matches_sha256_file(store: ArtifactStore, tmp_path: Path) -> None:
    source = tmp_path / "source.bin"
    source.write_bytes(PAYLOAD * 3)

    info = store.put_file(source, "data/source.bin")

    assert (info.sha256, info.size) == sha256_file(source)
    assert store.read_bytes(info.path, sha256=info.sha256) == PAYLOAD * 3


def test_empty_artifact(store: ArtifactStore) -> None:
    info = store.put_bytes(b"", "empty")
    assert info.size == 0
    assert info.sha256 == hashlib.sha256(b"").hexdigest()
    assert store.read_bytes("empty", sha256=info.sha256) == b""
    assert store.size("empty") == 0


def test_overwrite_replaces_content(store: ArtifactStore) -> None:
    store.put_bytes(b"first", "a.txt")
    store.put_bytes(b"second", "a.txt")
    assert store.read_bytes("a.txt") == b"second"
    assert store.list() == ["a.txt"]


def test_open_streams_in_pieces_and_verifies(store: ArtifactStore) -> None:
    info = store.put_bytes(b"line one\nline two\n" + PAYLOAD, "f.bin")

    with store.open(info.uri, sha256=info.sha256) as reader:
        assert reader.readline() == b"line one\n"
        assert reader.read(9) == b"line two\n"
        rest = b"".join(iter(lambda: reader.read(100_000), b""))

    assert rest == PAYLOAD


def test_open_without_hash_is_seekable(store: ArtifactStore) -> None:
    store.put_bytes(b"0123456789", "digits")
    with store.open("digits") as reader:
        assert reader.seekable()
        reader.seek(5)
        assert reader.read() == b"56789"


def test_open_with_hash_is_forward_only(store: ArtifactStore) -> None:
    info = store.put_bytes(b"0123456789", "digits")
    with store.open("digits", sha256=info.sha256) as reader:
        assert not reader.seekable()
        with pytest.raises(io.UnsupportedOperation):
            reader.seek(5)


def test_corruption_detected_by_read_bytes(store: ArtifactStore, corrupt: Corrupt) -> None:
    info = store.put_bytes(PAYLOAD, "m/model.bin")
    corrupt(store, "m/model.bin")

    with pytest.raises(ArtifactCorruptedError) as excinfo:
        store.read_bytes(info.uri, sha256=info.sha256)

    message = str(excinfo.value)
    assert info.uri in message
    assert info.sha256 in message
    actual = hashlib.sha256(store.read_bytes(info.uri)).hexdigest()
    assert actual in message


def test_corruption_detected_by_open_at_last_byte(store: ArtifactStore, corrupt: Corrupt) -> None:
    info = store.put_bytes(PAYLOAD, "m.bin")
    corrupt(store, "m.bin")

    with store.open("m.bin", sha256=info.sha256) as reader:
        # Reading exactly the size (as numpy.load would) is enough to trigger the check.
        with pytest.raises(ArtifactCorruptedError, match=info.sha256):
            reader.read(len(PAYLOAD))
        # Swallowing the error does not turn the stream into a clean EOF.
        with pytest.raises(ArtifactCorruptedError):
            reader.read()


def test_corruption_detected_by_download_leaves_nothing(
    store: ArtifactStore, corrupt: Corrupt, tmp_path: Path
) -> None:
    info = store.put_bytes(PAYLOAD, "m.bin")
    corrupt(store, "m.bin")
    target_dir = tmp_path / "downloads"
    target_dir.mkdir()

    with pytest.raises(ArtifactCorruptedError):
        store.download("m.bin", target_dir / "m.bin", sha256=info.sha256)

    assert list(target_dir.iterdir()) == []


def test_failed_download_keeps_previous_local_file(
    store: ArtifactStore, corrupt: Corrupt, tmp_path: Path
) -> None:
    info = store.put_bytes(PAYLOAD, "m.bin")
    (tmp_path / "downloads").mkdir()
    target = tmp_path / "downloads" / "m.bin"
    target.write_bytes(b"previous")
    corrupt(store, "m.bin")

    with pytest.raises(ArtifactCorruptedError):
        store.download(info.uri, target, sha256=info.sha256)

    assert target.read_bytes() == b"previous"
    assert [p.name for p in target.parent.iterdir()] == ["m.bin"]


def test_truncation_is_corruption(store: ArtifactStore) -> None:
    info = store.put_bytes(PAYLOAD, "m.bin")
    store.put_bytes(PAYLOAD[:-1], "m.bin")  # a writer bypassing the recorded hash
    with pytest.raises(ArtifactCorruptedError):
        store.read_bytes("m.bin", sha256=info.sha256)


def test_download_round_trip(store: ArtifactStore, tmp_path: Path) -> None:
    info = store.put_bytes(PAYLOAD, "m.bin")
    target = store.download(info.uri, tmp_path / "deep" / "m.bin", sha256=info.sha256)
    assert target == tmp_path / "deep" / "m.bin"
    assert target.read_bytes() == PAYLOAD


def test_download_into_a_folder_is_refused(store: ArtifactStore, tmp_path: Path) -> None:
    store.put_bytes(b"x", "m.bin")
    with pytest.raises(InvalidInputError):
        store.download("m.bin", tmp_path)


def test_sha256_must_be_a_hex_digest(store: ArtifactStore) -> None:
    store.put_bytes(b"x", "m.bin")
    with pytest.raises(InvalidInputError, match="sha256"):
        store.read_bytes("m.bin", sha256="abc")


def test_uppercase_sha256_is_accepted(store: ArtifactStore) -> None:
    info = store.put_bytes(b"x", "m.bin")
    assert store.read_bytes("m.bin", sha256=info.sha256.upper()) == b"x"


@pytest.mark.parametrize(
    "operation",
    [
        lambda s, tmp: s.read_bytes("missing/a.bin"),
        lambda s, tmp: s.open("missing/a.bin"),
        lambda s, tmp: s.download("missing/a.bin", tmp / "a.bin"),
        lambda s, tmp: s.size("missing/a.bin"),
        lambda s, tmp: s.delete("missing/a.bin"),
    ],
    ids=["read_bytes", "open", "download", "size", "delete"],
)
def test_missing_artifact_is_not_found_naming_the_uri(
    store: ArtifactStore, tmp_path: Path, operation: Callable[[ArtifactStore, Path], object]
) -> None:
    with pytest.raises(NotFoundError) as excinfo:
        operation(store, tmp_path)
    assert store.uri_for("missing/a.bin") in str(excinfo.value)
    assert not (tmp_path / "a.bin").exists()


def test_a_folder_is_not_an_artifact(store: ArtifactStore) -> None:
    store.put_bytes(b"x", "dir/a.bin")
    assert not store.exists("dir")
    for operation in (store.read_bytes, store.size, store.delete):
        with pytest.raises(NotFoundError):
            operation("dir")


def test_exists(store: ArtifactStore) -> None:
    assert not store.exists("a.bin")
    store.put_bytes(b"x", "a.bin")
    assert store.exists("a.bin")
    assert store.exists(store.uri_for("a.bin"))


def test_list_is_recursive_sorted_and_segment_aware(store: ArtifactStore) -> None:
    for path in ["runs/10/a", "runs/1/b/c.bin", "runs/1/a.bin", "other.txt"]:
        store.put_bytes(path.encode(), path)

    assert store.list() == ["other.txt", "runs/1/a.bin", "runs/1/b/c.bin", "runs/10/a"]
    assert store.list("runs/1") == ["runs/1/a.bin", "runs/1/b/c.bin"]
    assert store.list("runs/1/") == ["runs/1/a.bin", "runs/1/b/c.bin"]
    assert store.list("runs/1/a.bin") == []
    assert store.list("nothing/here") == []


def test_list_of_an_empty_store(store: ArtifactStore) -> None:
    assert store.list() == []


def test_delete(store: ArtifactStore) -> None:
    store.put_bytes(b"x", "a/b.bin")
    store.put_bytes(b"y", "a/c.bin")
    store.delete("a/b.bin")
    assert not store.exists("a/b.bin")
    assert store.list() == ["a/c.bin"]


def test_delete_prefix_is_recursive_and_segment_aware(store: ArtifactStore) -> None:
    for path in ["runs/1/a", "runs/1/deep/er/b", "runs/10/a", "runs/1.txt"]:
        store.put_bytes(b"x", path)

    assert store.delete_prefix("runs/1") == 2

    assert store.list() == ["runs/1.txt", "runs/10/a"]
    assert store.delete_prefix("runs/1") == 0
    assert store.delete_prefix("never/existed") == 0


@pytest.mark.slow
def test_delete_prefix_spans_many_pages(store: ArtifactStore) -> None:
    # More keys than one S3 ListObjects/DeleteObjects page (1000); written concurrently, which
    # also exercises sharing one store (and its lazily built filesystem) across threads.
    paths = [f"gc/{i % 7}/{i}" for i in range(1203)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(lambda path: store.put_bytes(b"", path), paths))
    store.put_bytes(b"keep", "keep")

    assert store.delete_prefix("gc") == 1203
    assert store.list() == ["keep"]


def test_delete_prefix_refuses_the_whole_store(store: ArtifactStore) -> None:
    store.put_bytes(b"x", "a")
    with pytest.raises(InvalidInputError):
        store.delete_prefix("")
    assert store.list() == ["a"]


def test_put_dir_is_recursive(store: ArtifactStore, tmp_path: Path) -> None:
    source = tmp_path / "model"
    (source / "sub" / "deeper").mkdir(parents=True)
    (source / "MLmodel").write_text("flavor: sklearn")
    (source / "sub" / "weights.bin").write_bytes(PAYLOAD)
    (source / "sub" / "deeper" / ".hidden").write_bytes(b"h")

    infos = store.put_dir(source, "models/m/1")

    assert [i.path for i in infos] == [
        "models/m/1/MLmodel",
        "models/m/1/sub/deeper/.hidden",
        "models/m/1/sub/weights.bin",
    ]
    assert store.list("models") == [i.path for i in infos]
    weights = infos[2]
    assert weights.sha256 == hashlib.sha256(PAYLOAD).hexdigest()
    assert store.read_bytes(weights.uri, sha256=weights.sha256) == PAYLOAD


def test_put_dir_validates_all_names_before_uploading(store: ArtifactStore, tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "a.txt").write_text("a")
    (source / "bad\\name").write_text("b")

    with pytest.raises(InvalidInputError, match="bad"):
        store.put_dir(source, "up")
    assert store.list() == []


def test_put_dir_of_a_missing_folder(store: ArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError):
        store.put_dir(tmp_path / "nope", "x")


def test_put_file_of_missing_or_folder_source(store: ArtifactStore, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="nope"):
        store.put_file(tmp_path / "nope", "x")
    with pytest.raises(InvalidInputError, match="put_dir"):
        store.put_file(tmp_path, "x")


def test_put_fileobj_streams_any_reader(store: ArtifactStore) -> None:
    info = store.put_fileobj(io.BytesIO(PAYLOAD), "stream.bin")
    assert info.sha256 == hashlib.sha256(PAYLOAD).hexdigest()
    assert store.read_bytes("stream.bin") == PAYLOAD


@pytest.mark.parametrize(
    ("source_kind", "target_kind"),
    [("local", "s3"), ("s3", "local"), ("local", "local"), ("s3", "s3")],
)
def test_copy_to_between_backends(
    make_store: StoreFactory, source_kind: str, target_kind: str
) -> None:
    source, target = make_store(source_kind), make_store(target_kind)
    info = source.put_bytes(PAYLOAD, "runs/1/model.bin")

    copied = source.copy_to(target, info.uri, info.sha256)

    assert copied.path == "runs/1/model.bin"
    assert copied.uri == target.uri_for("runs/1/model.bin")
    assert (copied.size, copied.sha256) == (info.size, info.sha256)
    assert target.read_bytes(copied.uri, sha256=copied.sha256) == PAYLOAD


def test_copy_to_refuses_a_corrupted_source(
    store: ArtifactStore, make_store: StoreFactory, corrupt: Corrupt
) -> None:
    info = store.put_bytes(PAYLOAD, "m.bin")
    corrupt(store, "m.bin")
    target = make_store("local")

    with pytest.raises(ArtifactCorruptedError):
        store.copy_to(target, "m.bin", sha256=info.sha256)

    assert target.list() == []
    assert not target.exists("m.bin")


def test_store_pickles_and_keeps_working(store: ArtifactStore) -> None:
    store.put_bytes(b"before", "a")
    clone = pickle.loads(pickle.dumps(store))
    assert clone.read_bytes("a") == b"before"
    clone.put_bytes(b"after", "b")
    assert store.read_bytes("b") == b"after"
    assert repr(clone) == repr(store)


def test_local_path_cannot_be_both_artifact_and_folder(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path / "root"))
    store.put_bytes(b"x", "a")
    store.put_bytes(b"y", "b/c")
    with pytest.raises(InvalidInputError, match="parent"):
        store.put_bytes(b"z", "a/b")
    with pytest.raises(InvalidInputError, match="folder"):
        store.put_bytes(b"z", "b")
    assert store.list() == ["a", "b/c"]


def test_local_files_get_umask_permissions_not_private_temp_ones(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path / "root"))
    info = store.put_bytes(b"x", "a")
    mode = Path(info.uri.removeprefix("file://")).stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    assert mode == 0o666 & ~umask
