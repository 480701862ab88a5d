"""sdmr's baseline methods, one module per method, registered under the ``sdmr.methods`` entry points.

The source folder is ``baselines/`` but it installs as the import package ``sdmr_baselines``
(``pyproject.toml``: ``package-dir``), because an unrelated, old PyPI package already owns the
top-level name ``baselines``: ``import sdmr_baselines.region_growing``.
"""
