"""mrelay: the Python side of the mrelay measurement laboratory.

A thin pure-Python package over the native module ``_mrelay`` (pybind11, built by CMake into
``$MRELAY_BUILD_DIR/python``) plus the pieces that are naturally Python, in layers that import
downwards only (tests/test_layout.py): the results documents and what is read from them
(:mod:`mrelay.results`); the regression gate, baselines, A/B runs and the data of each plot
(:mod:`mrelay.gate`, :mod:`mrelay.figures` ...); the pages drawn from them
(:mod:`mrelay.report`, :mod:`mrelay.page`); and the command line (:mod:`mrelay.cli`,
:mod:`mrelay.cli_report`; ``python3 -m mrelay --help``).

From the source tree (``cd python``), the native module is found, in this order:

1. an importable ``_mrelay`` already on ``sys.path`` (e.g. ``PYTHONPATH=build/python``);
2. ``$MRELAY_BUILD_DIR/python/_mrelay*.so`` (``MRELAY_BUILD_DIR`` defaults to ``<repo>/build``).

Installed (``cmake --install``, the .deb), the module sits next to the package in
dist-packages and the programs in the prefix's bin directory, which ``programs_dir()`` finds
through ``mrelay/_installed.py`` (written by the install) when ``MRELAY_BUILD_DIR`` is unset.

Example::

    cd python && MRELAY_BUILD_DIR=../build /usr/bin/python3 -c \\
        'import mrelay; h = mrelay.Histogram(); h.record(1200); print(h.percentile(50))'

The pure-Python parts (results, gate) work without the native module; ``native()`` raises
``ImportError`` naming the directory it searched when the module is not built. What the rig
itself computes -- the reference ratios of re-run and A/B samples, the cells of a sweep spec,
the kernel's VIF limit -- is asked of the native module (the bench's own C++), never written
again in Python.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType
from typing import Optional

__all__ = [
    "REPO_ROOT",
    "build_dir",
    "installed_bin_dir",
    "programs_dir",
    "native",
    "native_available",
]

__version__ = "0.1.0"

#: The repository root (python/mrelay/__init__.py -> ../..).
REPO_ROOT = Path(__file__).resolve().parent.parent.parent

_native: Optional[ModuleType] = None
_native_error: Optional[str] = None


def build_dir() -> Path:
    """The CMake build directory: ``$MRELAY_BUILD_DIR`` or ``<repo>/build``."""
    configured = os.environ.get("MRELAY_BUILD_DIR")
    return Path(configured).resolve() if configured else REPO_ROOT / "build"


def installed_bin_dir() -> Optional[Path]:
    """The installed programs' directory when this package was installed, else None."""
    try:
        from ._installed import BINDIR_FROM_PACKAGE  # noqa: PLC0415
    except ImportError:
        return None
    return (Path(__file__).resolve().parent / BINDIR_FROM_PACKAGE).resolve()


def programs_dir() -> Path:
    """Where the programs are: ``$MRELAY_BUILD_DIR/bin`` when set; else, for an installed
    package, the install's bin directory; else ``<repo>/build/bin``."""
    if not os.environ.get("MRELAY_BUILD_DIR"):
        installed = installed_bin_dir()
        if installed is not None:
            return installed
    return build_dir() / "bin"


def _load_native() -> ModuleType:
    try:
        import _mrelay  # type: ignore[import-not-found]  # noqa: PLC0415

        return _mrelay
    except ImportError:
        pass
    directory = build_dir() / "python"
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        candidate = directory / f"_mrelay{suffix}"
        if candidate.is_file():
            spec = importlib.util.spec_from_file_location("_mrelay", candidate)
            if spec is None or spec.loader is None:
                continue
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            sys.modules["_mrelay"] = module
            return module
    raise ImportError(
        f"native module _mrelay not found in {directory} (build it with "
        f"`cmake --build {build_dir()} --target _mrelay`, or set MRELAY_BUILD_DIR)"
    )


def native() -> ModuleType:
    """The native module ``_mrelay``; raises ImportError (saying where it looked) if absent."""
    global _native, _native_error
    if _native is None:
        if _native_error is not None:
            raise ImportError(_native_error)
        try:
            _native = _load_native()
        except ImportError as error:
            _native_error = str(error)
            raise
    return _native


def native_available() -> bool:
    """True when the native module can be imported."""
    try:
        native()
    except ImportError:
        return False
    return True


# Re-export the native names when the module is built, so `mrelay.Histogram` works; the
# pure-Python parts of the package must not depend on this.
_NATIVE_NAMES = (
    "Histogram",
    "stamp_payload",
    "restamp_time",
    "check_payload",
    "parse_frame",
    "parse_ipv4",
    "parse_config_json",
    "PAYLOAD_MAGIC",
    "PAYLOAD_HEADER_SIZE",
    "PAYLOAD_FLAG_WARMUP",
)

if native_available():
    for _name in _NATIVE_NAMES:
        globals()[_name] = getattr(_native, _name)
        __all__.append(_name)
