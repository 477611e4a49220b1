"""The built wheel and sdist carry the LICENSE, the Project-URLs and the version classifiers."""

from __future__ import annotations

import shutil
import subprocess
import tarfile
import zipfile
from email.parser import HeaderParser
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from email.message import Message

ROOT = Path(__file__).resolve().parent.parent
LICENSE = (ROOT / "LICENSE").read_text()
URL_LABELS = {"Homepage", "Documentation", "Source", "Changelog", "Issues"}
PYTHONS = {"3.10", "3.11", "3.12", "3.13"}


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The sdist and the wheel (built from that sdist) that `uv build` makes of this checkout."""
    uv = shutil.which("uv")
    if uv is None:
        pytest.skip("uv is not on PATH")
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [uv, "build", "--quiet", "--out-dir", str(out), str(ROOT)],
        check=True,
        timeout=120,
        capture_output=True,
    )
    (sdist,) = out.glob("*.tar.gz")
    (wheel,) = out.glob("*.whl")
    return sdist, wheel


def _sdist(path: Path) -> tuple[dict[str, bytes], Message]:
    with tarfile.open(path) as archive:
        files = {
            member.name.partition("/")[2]: extracted.read()
            for member in archive.getmembers()
            if (extracted := archive.extractfile(member)) is not None
        }
    return files, HeaderParser().parsestr(files["PKG-INFO"].decode())


def _wheel(path: Path) -> tuple[dict[str, bytes], Message]:
    with zipfile.ZipFile(path) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    (metadata,) = (name for name in files if name.endswith(".dist-info/METADATA"))
    return files, HeaderParser().parsestr(files[metadata].decode())


def test_license_is_mit_and_ships_in_both_dists(dists: tuple[Path, Path]) -> None:
    """The repository's MIT LICENSE is in the sdist's root and the wheel's dist-info/licenses."""
    assert LICENSE.startswith("MIT License")
    assert "Copyright (c) 2026 qoder_async developers" in LICENSE
    sdist_files, _ = _sdist(dists[0])
    wheel_files, _ = _wheel(dists[1])
    assert sdist_files["LICENSE"].decode() == LICENSE
    (in_wheel,) = (name for name in wheel_files if name.endswith(".dist-info/licenses/LICENSE"))
    assert wheel_files[in_wheel].decode() == LICENSE


@pytest.mark.parametrize("kind", ["sdist", "wheel"])
def test_metadata_declares_license_urls_and_classifiers(
    dists: tuple[Path, Path], kind: str
) -> None:
    """Both dists' metadata name the license, five Project-URLs and Python 3.10 to 3.13."""
    _, metadata = _sdist(dists[0]) if kind == "sdist" else _wheel(dists[1])
    assert metadata["License-Expression"] == "MIT"
    assert metadata.get_all("License-File") == ["LICENSE"]
    urls = dict(entry.split(", ", 1) for entry in metadata.get_all("Project-URL", []))
    assert urls.keys() == URL_LABELS
    assert all(
        url.startswith("https://github.com/qoder-async/qoder-async") for url in urls.values()
    )
    classifiers = set(metadata.get_all("Classifier", []))
    assert {f"Programming Language :: Python :: {version}" for version in PYTHONS} <= classifiers
    assert metadata["Requires-Python"] == ">=3.10"


def test_ci_runs_the_readme_command_then_the_lowest_dependencies() -> None:
    """.ci/run runs `uv run pytest` as the README says, then the lowest-direct nox session."""
    steps = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert "uv run pytest" in steps
    assert "uv run --frozen nox -s tests-lowest" in steps
    assert steps.index("uv run pytest") < steps.index("uv run --frozen nox -s tests-lowest")
    assert "uv run pytest" in (ROOT / "README.md").read_text()
