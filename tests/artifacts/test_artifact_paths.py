"""Path validation and root parsing: pure, no storage touched."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlops.artifacts import ArtifactStore
from mlops.artifacts.paths import validate_path, validate_prefix
from mlops.errors import ConfigError, InvalidInputError

BAD_PATHS = [
    "",
    "/etc/passwd",
    "../outside",
    "a/../../b",
    "a/..",
    "./a",
    "a/./b",
    "a//b",
    "a/",
    "a\\b",
    "..\\windows",
    "a\x00b",
    "run/file.mlops-tmp",
]


@pytest.mark.parametrize("path", BAD_PATHS)
def test_invalid_paths_are_rejected_naming_the_path(path: str) -> None:
    with pytest.raises(InvalidInputError) as excinfo:
        validate_path(path)
    assert repr(path) in str(excinfo.value)


@pytest.mark.parametrize("path", ["model.skops", "runs/42/model.skops", "a b/ü/.hidden", "x..y"])
def test_valid_paths_pass_unchanged(path: str) -> None:
    assert validate_path(path) == path


@pytest.mark.parametrize(
    ("prefix", "expected"), [("", ""), ("runs", "runs"), ("runs/1/", "runs/1")]
)
def test_prefixes_allow_empty_and_one_trailing_slash(prefix: str, expected: str) -> None:
    assert validate_prefix(prefix) == expected


@pytest.mark.parametrize("prefix", ["/", "/runs", "runs//", "../x", "a\\b"])
def test_invalid_prefixes_are_rejected(prefix: str) -> None:
    with pytest.raises(InvalidInputError):
        validate_prefix(prefix)


@pytest.mark.parametrize("path", ["../x", "/abs", "a//b", "a\\b"])
def test_store_methods_validate_before_touching_storage(tmp_path: Path, path: str) -> None:
    store = ArtifactStore(str(tmp_path / "root"))
    with pytest.raises(InvalidInputError, match="invalid artifact path"):
        store.put_bytes(b"x", path)
    assert not (tmp_path / "root").exists()
    assert not (tmp_path / "x").exists()


def test_local_root_is_made_absolute(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = ArtifactStore("artifacts")
    assert store.root_uri == f"file://{tmp_path.as_posix()}/artifacts"
    assert store.uri_for("a/b.bin") == f"file://{tmp_path.as_posix()}/artifacts/a/b.bin"


def test_file_uri_and_plain_path_roots_are_the_same_store(tmp_path: Path) -> None:
    by_path = ArtifactStore(str(tmp_path))
    by_uri = ArtifactStore(f"file://{tmp_path}")
    by_localhost = ArtifactStore(f"file://localhost{tmp_path}/")
    assert by_path.root_uri == by_uri.root_uri == by_localhost.root_uri


def test_s3_root_strips_trailing_slash() -> None:
    store = ArtifactStore("s3://bucket/some/prefix/")
    assert store.root_uri == "s3://bucket/some/prefix"
    assert store.uri_for("x/y") == "s3://bucket/some/prefix/x/y"
    assert ArtifactStore("s3://bucket").uri_for("x") == "s3://bucket/x"


@pytest.mark.parametrize(
    "root", ["gs://bucket/x", "s3://", "s3:///prefix", "s3://b/../x", "file://otherhost/x", "  "]
)
def test_unusable_roots_are_config_errors(root: str) -> None:
    with pytest.raises(ConfigError):
        ArtifactStore(root)


def test_unknown_scheme_lists_valid_ones() -> None:
    with pytest.raises(ConfigError, match="file, s3"):
        ArtifactStore("azure://container/x")


def test_relative_inverts_uri_for(tmp_path: Path) -> None:
    for store in (ArtifactStore(str(tmp_path)), ArtifactStore("s3://bucket/pre")):
        assert store.relative(store.uri_for("runs/1/m.bin")) == "runs/1/m.bin"


def test_relative_accepts_plain_local_paths(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path))
    assert store.relative(os.path.join(tmp_path, "a", "b.bin")) == "a/b.bin"


@pytest.mark.parametrize(
    "uri",
    [
        "s3://bucket/other/x",
        "s3://bucket/prefix/x",  # "prefix" is not "pre" + "/"
        "s3://bucket/pre",  # the root itself is no artifact
        "s3://bucket/pre/../escape",
        "s3://bucket/pre//x",
        "file:///pre/x",
    ],
)
def test_relative_rejects_uris_outside_the_root(uri: str) -> None:
    with pytest.raises(InvalidInputError) as excinfo:
        ArtifactStore("s3://bucket/pre").relative(uri)
    assert repr(uri) in str(excinfo.value)


def test_relative_rejects_sibling_folder_with_common_prefix(tmp_path: Path) -> None:
    store = ArtifactStore(str(tmp_path / "root"))
    with pytest.raises(InvalidInputError):
        store.relative(f"file://{tmp_path}/rootx/a")
    with pytest.raises(InvalidInputError):
        store.relative(f"file://{tmp_path}/root/../etc/passwd")
