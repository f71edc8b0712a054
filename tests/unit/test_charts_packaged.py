"""The charts ship inside the package (src/sparkctl/charts links to charts/), so `pip install` alone can deploy."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "sparkctl"


def test_every_chart_file_is_package_data() -> None:
    patterns = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["sparkctl"]
    packaged = {path.relative_to(PACKAGE).as_posix() for pattern in patterns for path in PACKAGE.glob(pattern)}
    chart_files = {
        f"charts/{path.relative_to(ROOT / 'charts').as_posix()}"
        for path in (ROOT / "charts").rglob("*")
        if path.is_file()
    }

    assert {"charts/llm-serving/Chart.yaml", "charts/graphrag/Chart.yaml"} <= chart_files
    assert chart_files - packaged == set(), "add these to [tool.setuptools.package-data] in pyproject.toml"
