"""The Triton python models of ``model_repository/`` (preprocess, detect_boxes, crop_recognize,
recognize_crops): each ``model_repository/<name>/1/model.py`` imports its ``TritonPythonModel`` from here.
They run in the python backend's stub and import only the core (``ocrstack.config``, ``ocrstack.pipeline``'s
stages) and the serving helpers beside them."""
