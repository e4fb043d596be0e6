"""Every program answers --version with the project's version, stated once in CMakeLists.txt:
the C++ programs (compiled with it), mrelay-netns (reads it) and the Python package (checked
against it here).

    cd python && MRELAY_BUILD_DIR=../build /usr/bin/python3 -m pytest -q tests/test_versions.py
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import mrelay  # noqa: E402
from mrelay import cli  # noqa: E402

CMAKE_VERSION = re.search(r"^project\(mrelay VERSION ([0-9.]+)",
                          (mrelay.REPO_ROOT / "CMakeLists.txt").read_text(), re.M).group(1)
PROGRAMS = ("mrelay", "mrelayctl", "mrelay-gen", "mrelay-sink", "mrelay-inject", "mrelay-bench",
            "mrelay-kfwd", "mrelay-perfstat", "mrelay-microbench")


def test_the_python_package_has_the_projects_version(capsys):
    assert mrelay.__version__ == CMAKE_VERSION
    with pytest.raises(SystemExit) as done:
        cli.main(["--version"])
    assert done.value.code == 0 and capsys.readouterr().out.strip().endswith(CMAKE_VERSION)


def test_pyproject_has_the_projects_version():
    import tomllib  # noqa: PLC0415

    project = tomllib.loads((mrelay.REPO_ROOT / "python" / "pyproject.toml").read_text())
    assert project["project"]["version"] == CMAKE_VERSION
    assert project["project"]["name"] == "mrelay"


def test_mrelay_netns_reads_the_version():
    out = subprocess.run([str(mrelay.REPO_ROOT / "netns" / "mrelay-netns"), "--version"],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == f"mrelay-netns {CMAKE_VERSION}"


@pytest.mark.parametrize("program", PROGRAMS)
def test_every_program_answers_version(program):
    path = mrelay.build_dir() / "bin" / program
    if not path.is_file():
        pytest.skip(f"{path} not built")
    done = subprocess.run([str(path), "--version"], capture_output=True, text=True, timeout=10)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"{program} {CMAKE_VERSION}"
