"""Compile the real-PCL backend (``sdmr/pointcloud/csrc/pcl_binding.cpp``) against Debian's PCL 1.13.

Usage::

    python -m sdmr.pointcloud.build_pcl            # compile next to this file (sdmr/pointcloud/_pcl_binding*.so)
    python -m sdmr.pointcloud.build_pcl --check    # only say what was found / what is missing

Why a script rather than a setuptools extension: ``pip install sdmr`` must never need PCL, and an
optional extension that silently fails to build would hide why ``--param backend=pcl`` is unavailable.
One g++ call (about 20 s, one core) with explicit paths is easy to read and to rerun.

Where the pieces come from, in order:

- PCL headers: ``$SDMR_PCL_PREFIX/usr/include/pcl-1.13`` (headers unpacked by
  ``scripts/install_pcl.sh``), then ``pkg-config pcl_common`` (a full ``apt-get install libpcl-dev``),
  then ``/usr/include/pcl-1.13`` and ``/usr/local/include/pcl-1.13``.
- PCL libraries: the runtime packages ``libpcl-{common,kdtree,search,features,segmentation}1.13``; we
  link the versioned ``.so.1.13`` files by full path, so the unversioned dev symlinks are not needed.
- Eigen (``libeigen3-dev``), Boost headers (``libboost-dev``) and FLANN headers (``libflann-dev``, or
  unpacked with the PCL headers); pybind11 from pip (``pip install -e ".[pcl]"``).
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE = HERE / "csrc" / "pcl_binding.cpp"
MODULE = "_pcl_binding"
PCL_VERSION = "1.13"
#: The PCL libraries the binding uses, in link order (dependents first).
PCL_LIBS = ("pcl_segmentation", "pcl_features", "pcl_search", "pcl_kdtree", "pcl_common")
#: The environment variable naming a prefix with unpacked headers (see scripts/install_pcl.sh).
PREFIX_ENV = "SDMR_PCL_PREFIX"
#: Where scripts/install_pcl.sh unpacks headers when run from a checkout (ignored by git via build/).
REPO_PREFIX = HERE.parent.parent / "build" / "pcl-headers"
INSTALL_HINT = (
    "as root on Debian/Ubuntu run `bash scripts/install_pcl.sh` (installs the PCL 1.13 runtime libraries, "
    "their headers and pybind11, then builds); or by hand: `apt-get install libpcl-dev` and "
    '`pip install -e ".[pcl]"`, then `python -m sdmr.pointcloud.build_pcl`'
)


def output_path() -> Path:
    """The compiled module's path: next to this file, so ``sdmr.pointcloud._pcl_binding`` imports it."""
    return HERE / f"{MODULE}{sysconfig.get_config_var('EXT_SUFFIX')}"


@dataclass
class Toolchain:
    """Everything the g++ command needs, or the reasons it cannot be built."""

    includes: list[str] = field(default_factory=list)
    libraries: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    compiler: str | None = None

    def command(self, out: Path) -> list[str]:
        assert self.compiler is not None
        return [
            self.compiler, "-O2", "-shared", "-fPIC", "-std=c++17", "-fvisibility=hidden", "-w",
            *(f"-I{d}" for d in self.includes), str(SOURCE), "-o", str(out), *self.libraries,
        ]


def _pkg_config(*args: str) -> str | None:
    if shutil.which("pkg-config") is None:
        return None
    res = subprocess.run(["pkg-config", *args], check=False, capture_output=True, text=True)
    return res.stdout.strip() if res.returncode == 0 else None


def _prefixes() -> list[Path]:
    env = os.environ.get(PREFIX_ENV)
    return [Path(env)] if env else [REPO_PREFIX]


def _find_pcl_include() -> str | None:
    candidates = [p / "usr" / "include" / f"pcl-{PCL_VERSION}" for p in _prefixes()]
    pc = _pkg_config("--variable=includedir", "pcl_common")
    if pc:
        candidates.append(Path(pc))
    candidates += [Path(f"/usr/include/pcl-{PCL_VERSION}"), Path(f"/usr/local/include/pcl-{PCL_VERSION}")]
    for c in candidates:
        if (c / "pcl" / "segmentation" / "region_growing.h").is_file():
            return str(c)
    return None


def _find_header_dir(relative: str, extra: list[Path]) -> str | None:
    """The include directory holding ``relative`` (e.g. ``flann/flann.hpp``), searched in a fixed order."""
    for base in [*extra, Path("/usr/include"), Path("/usr/local/include")]:
        if (base / relative).is_file():
            return str(base)
    return None


def _library_dirs() -> list[Path]:
    dirs = []
    pc = _pkg_config("--variable=libdir", "pcl_common")
    if pc:
        dirs.append(Path(pc))
    multiarch = sysconfig.get_config_var("MULTIARCH")
    if multiarch:
        dirs.append(Path("/usr/lib") / multiarch)
    dirs += [Path("/usr/lib"), Path("/usr/local/lib"), Path("/usr/lib64")]
    return dirs


def _find_library(name: str) -> str | None:
    for d in _library_dirs():
        for pattern in (f"lib{name}.so.{PCL_VERSION}", f"lib{name}.so"):
            hits = sorted(glob.glob(str(d / pattern)))
            if hits:
                return hits[0]
    return None


def find_toolchain() -> Toolchain:
    """Locate compiler, headers and libraries; list what is missing instead of failing on the first."""
    tc = Toolchain()
    tc.compiler = os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")
    if tc.compiler is None:
        tc.missing.append("a C++ compiler (apt-get install g++)")
    pcl_inc = _find_pcl_include()
    if pcl_inc is None:
        tc.missing.append(f"PCL {PCL_VERSION} headers (libpcl-dev)")
    else:
        tc.includes.append(pcl_inc)
    header_prefixes = [p / "usr" / "include" for p in _prefixes()]
    flann = _find_header_dir("flann/flann.hpp", header_prefixes)
    if flann is None:
        tc.missing.append("FLANN headers (libflann-dev)")
    elif flann not in tc.includes:
        tc.includes.append(flann)
    eigen = _find_header_dir("Eigen/Core", [Path("/usr/include/eigen3"), Path("/usr/local/include/eigen3")])
    if eigen is None:
        tc.missing.append("Eigen 3 headers (libeigen3-dev)")
    else:
        tc.includes.append(eigen)
    if _find_header_dir("boost/version.hpp", []) is None:
        tc.missing.append("Boost headers (libboost-dev)")
    try:
        import pybind11

        tc.includes.append(pybind11.get_include())
    except ImportError:
        tc.missing.append('pybind11 (pip install -e ".[pcl]" or pip install "pybind11>=2.12")')
    py_inc = sysconfig.get_paths()["include"]
    if not (Path(py_inc) / "Python.h").is_file():
        tc.missing.append(f"Python headers ({py_inc}/Python.h; apt-get install python3-dev)")
    tc.includes.append(py_inc)
    for name in PCL_LIBS:
        lib = _find_library(name)
        if lib is None:
            tc.missing.append(f"lib{name}.so.{PCL_VERSION} (apt-get install lib{name.replace('_', '-')}{PCL_VERSION})")
        else:
            tc.libraries.append(lib)
    return tc


def build(out: Path | None = None, verbose: bool = True) -> Path:
    """Compile the binding; raise RuntimeError naming every missing piece and the command that fixes it."""
    out = out or output_path()
    tc = find_toolchain()
    if tc.missing:
        raise RuntimeError("cannot build the PCL backend, missing: " + "; ".join(tc.missing) + ". Fix: " + INSTALL_HINT)
    cmd = tc.command(out)
    if verbose:
        print(" ".join(cmd), flush=True)
    start = time.perf_counter()
    tmp = out.with_name(out.name + ".tmp")
    cmd[cmd.index(str(out))] = str(tmp)
    res = subprocess.run(cmd, check=False, capture_output=True, text=True)
    if res.returncode != 0:
        tmp.unlink(missing_ok=True)
        raise RuntimeError(f"g++ failed building the PCL backend:\n{res.stderr[-4000:]}")
    os.replace(tmp, out)  # atomic: a running process never imports a half-written module
    if verbose:
        print(f"built {out} in {time.perf_counter() - start:.1f} s", flush=True)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--check", action="store_true", help="only report what was found and what is missing")
    ap.add_argument("--out", type=Path, default=None, help=f"output file (default: {output_path()})")
    args = ap.parse_args(argv)
    if args.check:
        tc = find_toolchain()
        print("includes:", *tc.includes, sep="\n  ")
        print("libraries:", *tc.libraries, sep="\n  ")
        print("missing:", *(tc.missing or ["nothing"]), sep="\n  ")
        return 1 if tc.missing else 0
    try:
        path = build(args.out)
    except RuntimeError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    # Prove the result loads in this interpreter (wrong Python headers or ABI show up here, not later).
    probe = (
        "from sdmr.pointcloud import pcl_backend as b; assert b.available(), b.why_unavailable(); "
        "print('PCL backend ready:', b.version())"
    )
    res = subprocess.run([sys.executable, "-c", probe], check=False, capture_output=True, text=True)
    if args.out is None:
        print(res.stdout.strip() or res.stderr.strip()[-2000:])
        return res.returncode
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
