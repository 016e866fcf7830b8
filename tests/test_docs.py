"""The README's examples run as written, and every setting is documented there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mlops.config import MLOpsConfig

README = Path(__file__).parent.parent / "README.md"


def python_blocks(section: str) -> list[str]:
    text = README.read_text()
    start = text.index(f"## {section}")
    end = text.find("\n## ", start + 1)
    body = text[start : end if end != -1 else None]
    return re.findall(r"```python\n(.*?)```", body, re.S)


def test_quick_start_runs_as_written(capsys: pytest.CaptureFixture[str]) -> None:
    blocks = python_blocks("Quick start")
    assert len(blocks) == 2
    namespace: dict[str, object] = {"__name__": "__readme__"}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)
    printed = capsys.readouterr().out
    assert "[" in printed
    assert "algorithm" in printed
    assert (Path.cwd() / ".mlops" / "mlops.db").exists()  # the embedded default


def test_readme_first_screen_has_the_two_commands() -> None:
    first_screen = "\n".join(README.read_text().splitlines()[:20])
    assert "./dev demo" in first_screen
    assert "./dev test" in first_screen


def test_every_setting_is_documented() -> None:
    text = README.read_text()
    for name in ("home", "tracking_uri", "artifact_uri", "user"):
        assert f"`{name}`" in text
        assert f"MLOPS_{name.upper()}" in text
    assert set(MLOpsConfig.model_fields) >= {"home", "tracking_uri", "artifact_uri", "user"}
