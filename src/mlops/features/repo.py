"""A feature repo folder: Python files declaring definitions, plus an optional settings file.

Every ``*.py`` file directly in the folder is imported and every definition at its module level
is collected (as Feast does). Relative file-source paths are resolved against the folder, so
what is stored names the files wherever the command ran. ``feature_store.toml`` may set
``online_store`` and ``offline_store``; command-line options override it.
"""

from __future__ import annotations

import importlib.util
import sys
import tomllib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from mlops.errors import InvalidFeatureInputError
from mlops.features.entities import (
    Definition,
    Entity,
    FeatureService,
    FeatureView,
    OnDemandFeatureView,
)
from mlops.features.sources import FileSource

SETTINGS = "feature_store.toml"
_DEFINITION_TYPES = (Entity, FeatureView, FeatureService, OnDemandFeatureView)


@dataclass
class FeatureRepo:
    """What a repo folder declares."""

    path: Path
    definitions: list[Definition] = field(default_factory=list)
    settings: dict[str, Any] = field(default_factory=dict)


def _absolute(view: FeatureView, root: Path) -> FeatureView:
    src = view.source
    if isinstance(src, FileSource) and "://" not in src.path and not Path(src.path).is_absolute():
        return replace(view, source=FileSource(str((root / src.path).resolve()), src.format))
    return view


def load_repo(path: str | Path) -> FeatureRepo:
    """Import the repo's Python files and collect their definitions.

    Raises:
        InvalidFeatureInputError: The folder is missing, a file fails to import, or the
            settings file is not valid TOML.
    """
    root = Path(path).resolve()
    if not root.is_dir():
        raise InvalidFeatureInputError(f"feature repo {str(root)!r} is not a folder")
    repo = FeatureRepo(root)
    settings = root / SETTINGS
    if settings.is_file():
        try:
            repo.settings = tomllib.loads(settings.read_text())
        except tomllib.TOMLDecodeError as exc:
            raise InvalidFeatureInputError(f"{settings} is not valid TOML: {exc}") from exc
    seen: set[int] = set()
    sys.path.insert(0, str(root))  # lets repo files import each other
    try:
        for file in sorted(root.glob("*.py")):
            module = _import(file)
            for value in vars(module).values():
                if isinstance(value, _DEFINITION_TYPES) and id(value) not in seen:
                    seen.add(id(value))
                    if isinstance(value, FeatureView):
                        value = _absolute(value, root)
                    repo.definitions.append(value)
    finally:
        sys.path.remove(str(root))
    if not repo.definitions:
        raise InvalidFeatureInputError(
            f"feature repo {str(root)!r} declares no Entity, FeatureView, FeatureService or "
            "OnDemandFeatureView at the top level of its .py files"
        )
    return repo


def _import(file: Path) -> Any:
    name = file.stem
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise InvalidFeatureInputError(f"cannot import {file}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # so on-demand functions are importable by module:qualname
    try:
        spec.loader.exec_module(module)
    except Exception as exc:  # the user's code: any error is reported with its file
        del sys.modules[name]
        raise InvalidFeatureInputError(f"feature repo file {file.name} failed: {exc!r}") from exc
    return module


def on_demand_functions(repo: FeatureRepo) -> dict[str, Any]:
    """The functions of the repo's on-demand views, by view name."""
    return {
        d.name: d.function
        for d in repo.definitions
        if isinstance(d, OnDemandFeatureView) and d.function is not None
    }
