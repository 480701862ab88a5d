"""Deployment: export the detector to ONNX / OpenVINO and run it there (``sdmr-export``, docs/deployment.md).

:mod:`sdmr.export.onnx_export` writes and verifies an export folder; :mod:`sdmr.export.backends`
runs one (``Segmenter(..., backend="onnxruntime" | "openvino")``). The runtimes are optional extras
(``pip install "sdmr[onnx]"``, ``"sdmr[openvino]"``); nothing here is imported by the core install.
"""
