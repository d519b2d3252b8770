"""The one exception tree of ``ingest``.

::

    IngestError                      base of everything we raise on purpose
    +-- ConfigError                  bad configuration or OPML (exit code 2)
    +-- UsageError                   a command-line mistake (exit code 2)
    +-- FeedError                    a problem with one feed; recorded on the feed, never fatal
    |   +-- FetchError               the network side: timeouts, limits, HTTP status, SSRF policy
    |   +-- ParseError               the bytes are not a feed we can read safely
    +-- StoreError                   the store cannot do what was asked
        +-- SchemaError              the store's schema is missing or outdated

Every ``FeedError`` carries a short stable ``code`` (``timeout``, ``body_too_large``,
``refused_private``, ``not_a_feed`` ...) that is stored on the feed's record, shown in
``/status`` and counted in metrics, and a message for people. Library exceptions are
translated at the module that imports the library, with the cause chained
(``raise FetchError(...) from exc``).
"""

from __future__ import annotations


class IngestError(Exception):
    """Base class of every error ``ingest`` raises on purpose."""

    code: str = "error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.code


class ConfigError(IngestError):
    """Invalid configuration; ``problems`` lists every one found, each naming file and key."""

    code = "config"

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class UsageError(IngestError):
    """A command-line mistake (exit code 2)."""

    code = "usage"


class FeedError(IngestError):
    """A failure confined to one feed: recorded on the feed, the run goes on."""

    code = "feed_error"


class FetchError(FeedError):
    """The fetch failed.

    Codes: ``timeout``, ``connect``, ``body_too_large``, ``too_many_redirects``,
    ``unsupported_scheme``, ``refused_private``, ``invalid_url``, ``http_status``
    (with ``status``), ``gone`` (410: retried at the longest interval, never dropped),
    ``unsupported_encoding``, ``broken_transfer``, ``not_found`` (a missing local file).
    """

    code = "fetch_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status: int | None = None,
        retry_after: str | None = None,
    ) -> None:
        super().__init__(message, code=code)
        self.status = status
        self.retry_after = retry_after


class ParseError(FeedError):
    """The body is not a feed we can read. Codes: ``not_a_feed``, ``parse_resource_limit``."""

    code = "not_a_feed"


class StoreError(IngestError):
    """The store failed. Codes: ``db_full``, ``db_readonly``, ``db_locked``, ``db_error``."""

    code = "db_error"


class SchemaError(StoreError):
    """The store's schema is older (or newer) than this version of ``ingest`` expects."""

    code = "schema"
