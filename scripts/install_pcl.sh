#!/usr/bin/env bash
# Install the real PCL 1.13 backend (`--param backend=pcl`) on Debian/Ubuntu as root, and build it.
#   bash scripts/install_pcl.sh          minimal (default, what CI uses): ~12 packages, ~20 MB, ~20 s
#   bash scripts/install_pcl.sh --full   apt-get install libpcl-dev (421 packages, 230 MB: VTK, Qt, MPI...)
# Minimal = the PCL runtime libraries the binding links (common, kdtree, search, features,
# segmentation) + the header-only dependencies (Eigen, Boost, LZ4), and the headers of the *same*
# version's libpcl-dev and libflann-dev unpacked with `dpkg -x` into build/pcl-headers (not installed
# system-wide, so apt's state is untouched). Then pybind11 into the venv and
# `python -m sdmr.pointcloud.build_pcl`. Idempotent: a second run only checks the module loads.
#   PYTHON           the interpreter to build for (default .venv/bin/python)
#   SDMR_PCL_PREFIX  where to unpack the headers (default build/pcl-headers)
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-.venv/bin/python}
PREFIX=${SDMR_PCL_PREFIX:-$PWD/build/pcl-headers}
export SDMR_PCL_PREFIX=$PREFIX
FULL=0; [ "${1:-}" = "--full" ] && FULL=1

if "$PY" -c "from sdmr.pointcloud import pcl_backend as b; raise SystemExit(not b.available())" 2>/dev/null; then
  echo "PCL backend already built: $("$PY" -c 'from sdmr.pointcloud import pcl_backend as b; print(b.version())')"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1 || [ "$(id -u)" != 0 ]; then
  echo "install_pcl.sh needs root and apt-get (Debian/Ubuntu). Elsewhere: install PCL 1.13 with your package" >&2
  echo "manager, then: $PY -m pip install 'pybind11>=2.12' && $PY -m sdmr.pointcloud.build_pcl" >&2
  exit 1
fi

start=$(date +%s)
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
if [ "$FULL" = 1 ]; then
  apt-get install -y -qq --no-install-recommends libpcl-dev g++ pkg-config >/dev/null
else
  apt-get install -y -qq --no-install-recommends g++ libeigen3-dev libboost-dev liblz4-dev \
    libpcl-common1.13 libpcl-kdtree1.13 libpcl-search1.13 libpcl-features1.13 libpcl-segmentation1.13 >/dev/null
  # Headers of exactly the installed runtime version (libpcl-dev itself would pull VTK, Qt, a JDK, MPI).
  pcl_ver=$(dpkg-query -W -f='${Version}' libpcl-common1.13)
  flann_ver=$(apt-cache policy libflann-dev | awk '/Candidate:/ {print $2}')
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download -qq "libpcl-dev=$pcl_ver" "libflann-dev=$flann_ver" 2>/dev/null)
  rm -rf "$PREFIX"; mkdir -p "$PREFIX"
  for deb in "$tmp"/*.deb; do dpkg -x "$deb" "$tmp/root"; done
  mv "$tmp/root/usr" "$PREFIX/usr" && rm -rf "$tmp" "$PREFIX/usr/lib" "$PREFIX/usr/share"
fi
# Debian's own python3.11 keeps Python.h in python3-dev; pyenv/venv builds of Python ship it.
if ! "$PY" -c "import sysconfig, os, sys; sys.exit(not os.path.exists(sysconfig.get_paths()['include'] + '/Python.h'))"; then
  apt-get install -y -qq --no-install-recommends python3-dev >/dev/null
fi
echo "apt: $(( $(date +%s) - start )) s"
"$PY" -m pip install -q "pybind11>=2.12"   # = the `pcl` extra of pyproject.toml (no reinstall of sdmr)
"$PY" -m sdmr.pointcloud.build_pcl
echo "PCL backend installed in $(( $(date +%s) - start )) s"
