"""Pictures as files and arrays: decoding and encoding (codec), the PNG writer (png), the
photo's own metadata (photo_meta), arrays and PIL images from Python callers (arrays), and
atomic writes (outputs)."""
