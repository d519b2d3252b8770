"""ingest: an ingestion and deduplication daemon for Arabic news feeds."""

__version__ = "0.1.0"
