"""The evaluation's budgets in one light place (no imports): ``aekit evaluate``'s flags
(``options.EvaluateOptions``), ``evaluate.evaluate_run`` and ``page_metrics.page_sections`` read
their defaults here, so the command line parses without loading torch and no default is typed
twice."""

# time budget of the likelihood bounds for what --iwae-k and --iwae-images leave open
IWAE_SECONDS = 60.0
# held-out pages read by tesseract (about 1 s each at 75 dpi, 4 s at 300 dpi, for each of 4 columns)
OCR_PAGES = 8
# every random draw of an evaluation (binarised test images, samples) starts from this seed
SEED = 0
