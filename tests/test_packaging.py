"""The sdist and the wheel ship the LICENSE and the metadata says what it is.

Built with the project's build backend through its PEP 517 hooks, in a subprocess and offline (the
backend is in the ``test`` extra), exactly as ``python -m build`` would call it.
"""

from __future__ import annotations

import email
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LICENSE = (ROOT / "LICENSE").read_text(encoding="utf-8")

pytest.importorskip("hatchling", reason="the build backend (test extra) is not installed")

_BUILD = """
import sys
from hatchling.build import build_sdist, build_wheel
out = sys.argv[1]
print(build_sdist(out))
print(build_wheel(out))
"""


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [sys.executable, "-c", _BUILD, str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    sdist_name, wheel_name = done.stdout.split()
    return out / sdist_name, out / wheel_name


def test_license_is_mit_by_the_developers() -> None:
    assert LICENSE.startswith("MIT License\n")
    assert "Copyright (c) 2026 smsc_async developers" in LICENSE


def test_wheel_ships_the_license_and_says_so(archives: tuple[Path, Path]) -> None:
    _, wheel = archives
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        (dist_info,) = {n.split("/")[0] for n in names if ".dist-info/" in n}
        assert zf.read(f"{dist_info}/licenses/LICENSE").decode() == LICENSE
        metadata = email.message_from_bytes(zf.read(f"{dist_info}/METADATA"))
    assert metadata["License-Expression"] == "MIT"
    assert metadata.get_all("License-File") == ["LICENSE"]
    urls = dict(u.split(", ", 1) for u in metadata.get_all("Project-URL") or [])
    assert urls["Gateway API"] == "https://smsc.ru/api/http/"
    # The package and its typing marker, nothing from the tests or examples.
    assert "smsc_async/py.typed" in names
    assert not [n for n in names if n.startswith(("tests/", "examples/"))]


def test_sdist_ships_the_license(archives: tuple[Path, Path]) -> None:
    sdist, _ = archives
    with tarfile.open(sdist) as tf:
        names = tf.getnames()
        top = names[0].split("/")[0]
        member = tf.extractfile(f"{top}/LICENSE")
        assert member is not None
        assert member.read().decode() == LICENSE
        pkg_info = tf.extractfile(f"{top}/PKG-INFO")
        assert pkg_info is not None
        metadata = email.message_from_bytes(pkg_info.read())
    assert metadata["License-Expression"] == "MIT"
    assert metadata.get_all("License-File") == ["LICENSE"]
    assert f"{top}/examples/fastapi_app.py" in names
    assert f"{top}/pyproject.toml" in names
