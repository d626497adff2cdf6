"""One router per concern: image routes (translate, ocr), pipeline halves (detection, recognition), health."""
