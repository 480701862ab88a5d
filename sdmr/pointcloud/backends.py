"""Which implementation runs a clustering step: ``pip`` (scipy/Open3D/numba, the default) or ``pcl``
(the real PCL 1.13 library through ``sdmr.pointcloud.pcl_backend``, when it is installed)."""

from __future__ import annotations

from types import ModuleType

from sdmr.data.errors import DataError

BACKENDS = ("pip", "pcl")
PCL_INSTALL_HINT = ("install the real-PCL backend: sudo bash scripts/install_pcl.sh (docs/baselines.md, 'Real PCL backend'), "
                    "or use backend=pip")


def check_backend(backend: str) -> str:
    """``backend`` itself, or a DataError listing the choices."""
    if backend not in BACKENDS:
        raise DataError(f"unknown point-cloud backend {backend!r}", fix=f"choose one of {', '.join(BACKENDS)}")
    return backend


def pcl_module() -> ModuleType:
    """The real-PCL binding, or a DataError that says why it is unavailable and how to install it."""
    try:
        from sdmr.pointcloud import pcl_backend
    except ImportError as err:
        raise DataError(f"backend=pcl: the real-PCL binding cannot be imported ({err})", fix=PCL_INSTALL_HINT) from None
    if not pcl_backend.available():
        raise DataError(f"backend=pcl: real PCL is not available: {pcl_backend.why_unavailable()}",
                        fix=PCL_INSTALL_HINT)
    return pcl_backend


def pcl_available() -> tuple[bool, str]:
    """Whether ``backend=pcl`` would work, and the reason when it would not (for tests and benchmarks)."""
    try:
        pcl_module()
    except DataError as err:
        return False, str(err)
    return True, ""
