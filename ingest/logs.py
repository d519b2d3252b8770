"""One line per event on stderr, with stable keys: ``key=value`` text or JSON on request.

Callers log an event name as the message and the fields as ``extra={"fields": {...}}``::

    log.info("fetch", extra={"fields": {"feed": name, "url": url, "status": "ok", "new": 3}})

Both forms carry the same timestamp, ISO 8601 in UTC with milliseconds
(``2026-11-29T08:00:01.203Z``), and mask credentials in a ``url`` field.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

from ingest.netguard import redact_url


def timestamp(created: float) -> str:
    """A record's time as both formats print it: ``2026-11-29T08:00:01.203Z``."""
    moment = datetime.fromtimestamp(created, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _fields(record: logging.LogRecord) -> dict[str, Any]:
    fields = dict(getattr(record, "fields", {}) or {})
    if "url" in fields and isinstance(fields["url"], str):
        fields["url"] = redact_url(fields["url"])
    return fields


def _quote(value: Any) -> str:
    text = "" if value is None else str(value)
    if not text or any(c in text for c in ' "=\n\t'):
        return json.dumps(text, ensure_ascii=False)
    return text


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        parts = [
            timestamp(record.created),
            record.levelname.lower(),
            f"event={_quote(record.getMessage())}",
        ]
        parts += [f"{k}={_quote(v)}" for k, v in _fields(record).items()]
        if record.exc_info:
            parts.append(f"exception={_quote(self.formatException(record.exc_info))}")
        return " ".join(parts)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, Any] = {
            "ts": timestamp(record.created),
            "level": record.levelname.lower(),
            "event": record.getMessage(),
            **_fields(record),
        }
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False, default=str)


class _StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever ``sys.stderr`` is when a record is emitted (not when set up)."""

    def emit(self, record: logging.LogRecord) -> None:
        self.stream = sys.stderr
        super().emit(record)


def setup(fmt: str = "text", level: int = logging.INFO) -> None:
    """Send the ``ingest`` loggers to stderr in the chosen format, from ``level`` up."""
    handler = _StderrHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger("ingest")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False


def event(logger: logging.Logger, name: str, level: int = logging.INFO, **fields: Any) -> None:
    logger.log(level, name, extra={"fields": fields})
