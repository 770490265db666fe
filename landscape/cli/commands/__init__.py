"""One module per command; each is thin: parse, validate, resolve, run the pipeline, report."""
