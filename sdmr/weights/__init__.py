"""The bundled SD Mask R-CNN: package data, not code.

When a release ships a trained model, this folder holds four files, all written together by
``scripts/export_bundled_model.py`` (``sdmr.model.bundled.export_bundled_model``):

* ``sdmr_default_fp16.pt`` – the weights-only model file (``export_model`` format, fp16 tensors,
  builder arguments, input encoding, training focal length); opens with ``torch.load(weights_only=True)``.
* ``manifest.json``        – its file name, size and sha256, checked on every load (written last).
* ``model_card.json``      – how the model was made and how well it does (machine-readable).
* ``MODEL_CARD.md``        – the same card for people.

Without them, ``Segmenter.default()`` raises a ``DataError`` that says how to pass a checkpoint.
``SDMR_WEIGHTS_DIR`` points the loader at another folder with the same files.
"""
