"""sdmr: segment unknown objects in depth images with a Mask R-CNN trained on synthetic data.

The public data contract lives in :mod:`sdmr.data`; every stage (generator, model,
benchmark harness, baselines) exchanges the types defined there.
"""

__version__ = "0.1.0"
