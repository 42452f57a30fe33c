"""Public-data fetching: terrain, land cover, population and OpenStreetMap for an area, downloaded
(resumed, retried, cached, mirrored) and converted to what phusong reads, with a manifest."""
from .download import Downloader, FetchError, NotFound
from .inputs import fetch_inputs

__all__ = ["Downloader", "FetchError", "NotFound", "fetch_inputs"]
