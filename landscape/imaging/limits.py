"""How big a picture may be before anything allocates its pixels: the same limit, and the same
message, for files (the decoder) and for arrays and PIL images handed to the Python API."""
from landscape.errors import ItemError

# 100 MP admits 10000x10000 photos and refuses decompression bombs (and 10-gigapixel strided
# views) before they allocate gigabytes.
DEFAULT_MAX_PIXELS = 100_000_000


def check_pixels(width: int, height: int, limit: int, option: str = "--max-pixels") -> None:
    """ItemError when width x height is over `limit`; `option` is how the caller raises it."""
    if width * height > limit:
        raise ItemError(f"{width}x{height} = {width * height:,} pixels is over the limit of {limit:,} (raise it with {option})")
