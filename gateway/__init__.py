"""The FastAPI gateway clients call: OCR over Triton, plus translation."""
