"""Configuration: a TOML file plus ``--db`` / environment overrides -> frozen ``Settings``.

Validation collects *every* problem before failing, each naming the file, the key and what is
wrong, so a user fixes a broken file in one pass. ``ConfigError`` carries the list; the CLI
prints it and exits with code 2.

Layout of the file (see ``config/ingest.toml`` for a commented example)::

    [store]   db = "sqlite:///..." | "postgresql://..."
    [http]    timeouts, size and redirect limits, user agent, allowed networks, proxy
    [dedup]   thresholds of the near-duplicate decisions
    [daemon]  scheduling bounds, stop deadline, health endpoint address, log format
    [web]     the address of the read API and web console
    [limits]  caps on items per feed and characters per field (each cut is a warning)
    [[feeds]] name, url, and optional per-feed settings
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import stat
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ingest.errors import ConfigError
from ingest.netguard import redact_url
from ingest.settings import (
    MAX_AUTHOR_CHARS_CEILING,
    Address,
    DaemonSettings,
    DedupSettings,
    FeedSettings,
    HttpSettings,
    LimitSettings,
    SchedulePolicy,
    Settings,
    WebSettings,
)
from ingest.store import sqlite_path

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def default_db_path(environ: Mapping[str, str]) -> Path:
    """The embedded store when nothing else says: ``$XDG_DATA_HOME/ingest/ingest.db``, else
    ``$HOME/.local/share/ingest/ingest.db``."""
    base = environ.get("XDG_DATA_HOME")
    if not base:
        home = environ.get("HOME")
        base = str((Path(home) if home else Path.home()) / ".local" / "share")
    return Path(base) / "ingest" / "ingest.db"


class _Problems:
    """Collects problems, each prefixed with the file and the key."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[str] = []

    def add(self, key: str, what: str) -> None:
        self.items.append(f"{self.source}: {key}: {what}")


def _type_name(value: object) -> str:
    return {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        list: "array",
        dict: "table",
    }.get(type(value), type(value).__name__)


def _convert(value: object, hint: object, key: str, problems: _Problems) -> Any:
    """Check ``value`` against a field's type hint; the converted value, or ``None``."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        non_none = [a for a in args if a is not type(None)]
        if len(non_none) == 1:
            return _convert(value, non_none[0], key, problems)
    if hint is bool:
        if isinstance(value, bool):
            return value
        problems.add(key, f"expected true or false, got {_type_name(value)} {value!r}")
        return None
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        problems.add(key, f"expected an integer, got {_type_name(value)} {value!r}")
        return None
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        problems.add(key, f"expected a number, got {_type_name(value)} {value!r}")
        return None
    if hint is str:
        if isinstance(value, str):
            return value
        problems.add(key, f"expected a string, got {_type_name(value)} {value!r}")
        return None
    if origin is tuple and args and args[-1] is Ellipsis:  # the allowed networks
        if not isinstance(value, list):
            problems.add(key, f'expected an array of networks like "127.0.0.0/8", got {value!r}')
            return None
        nets: list[Network] = []
        for i, item in enumerate(value):
            try:
                nets.append(ipaddress.ip_network(str(item), strict=False))
            except ValueError:
                problems.add(f"{key}[{i}]", f"not an IP network: {item!r}")
        return tuple(nets)
    raise TypeError(f"no converter for {hint!r}")  # a programming error, not a user error


def _section(
    cls: type[Any],
    table: object,
    section: str,
    problems: _Problems,
    *,
    skip: frozenset[str] = frozenset(),
) -> dict[str, Any]:
    """Validate one TOML table against a settings dataclass; return keyword arguments."""
    if table is None:
        return {}
    if not isinstance(table, dict):
        problems.add(section, f"expected a table, got {_type_name(table)}")
        return {}
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)} - skip
    kwargs: dict[str, Any] = {}
    for key, value in table.items():
        full = f"{section}.{key}"
        if key not in names:
            known = ", ".join(sorted(names))
            problems.add(full, f"unknown key (known keys: {known})")
            continue
        converted = _convert(value, hints[key], full, problems)
        if converted is not None:
            kwargs[key] = converted
    return kwargs


def _positive(kwargs: Mapping[str, Any], section: str, problems: _Problems) -> None:
    for key, value in kwargs.items():
        if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
            problems.add(f"{section}.{key}", f"must not be negative, got {value}")


MAX_HEADER_VALUE = 1024
"""The longest configured value sent as an HTTP header (``http.user_agent``; the credentials
of a proxy URL): servers refuse header blocks over about 8 KiB, and every fetch would fail."""

MAX_URL_LENGTH = 8192
"""The longest feed or proxy URL accepted: its path goes into the request line and its
credentials into a header, which servers bound to about 8 KiB."""


def check_header_value(value: str) -> str | None:
    """Return why ``value`` cannot be sent as an HTTP header value, or ``None``."""
    if not value.strip():
        return "must not be empty"
    if len(value) > MAX_HEADER_VALUE:
        return (
            f"is {len(value)} characters long; an HTTP header value must be at most "
            f"{MAX_HEADER_VALUE}"
        )
    for position, char in enumerate(value):
        if not " " <= char <= "~":
            return (
                f"must be printable ASCII on one line (it is sent as an HTTP header): "
                f"{char!r} at position {position}"
            )
    return None


def check_proxy(url: str) -> str | None:
    """Return why ``url`` is not a usable proxy URL, or ``None``; never shows credentials."""
    shown = redact_url(url)
    if len(url) > MAX_URL_LENGTH:
        return f"is {len(url)} characters long, more than {MAX_URL_LENGTH}"
    if any(not " " < char <= "~" for char in url):
        return f"{shown!r}: a space, a control or a non-ASCII character in the URL"
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        return f"{shown!r} is not a URL ({exc})"
    if parts.scheme not in ("http", "https"):
        return f"{shown!r}: only http:// and https:// proxies are supported"
    if not host:
        return f"{shown!r}: a proxy URL needs a host"
    userinfo = parts.netloc.rpartition("@")[0]
    if len(userinfo) > MAX_HEADER_VALUE:
        return (
            f"{shown!r}: its credentials are {len(userinfo)} characters long, more than "
            f"{MAX_HEADER_VALUE} (they are sent as an HTTP header)"
        )
    return None


def check_feed_url(url: str) -> str | None:
    """Return why ``url`` is not a valid feed target, or ``None`` when it is."""
    if len(url) > MAX_URL_LENGTH:
        return f"{len(url)} characters long, more than {MAX_URL_LENGTH}"
    try:
        parts = urlsplit(url)
        hostname = parts.hostname
    except ValueError as exc:  # "Invalid IPv6 URL", a bad port ...
        return str(exc)
    if "\x00" in url:
        return "a NUL character in the URL"
    if parts.scheme in ("http", "https"):
        return None if hostname else "an http(s) URL needs a host"
    if parts.scheme == "file":
        return None if parts.path else "a file:// URL needs a path"
    if parts.scheme and len(parts.scheme) > 1:
        return f"unsupported scheme {parts.scheme!r} (use http, https, file or a local path)"
    return None  # a local path (``C:`` style single-letter "schemes" included)


def _feeds(value: object, problems: _Problems) -> tuple[FeedSettings, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        problems.add("feeds", "expected an array of tables ([[feeds]])")
        return ()
    feeds: list[FeedSettings] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(value):
        where = f"feeds[{i}]"
        kwargs = _section(FeedSettings, item, where, problems)
        if not isinstance(item, dict):
            continue
        name, url = kwargs.get("name"), kwargs.get("url")
        if "name" not in item:
            problems.add(f"{where}.name", "missing: every feed needs a name")
        if "url" not in item:
            problems.add(f"{where}.url", "missing: every feed needs a url")
        if isinstance(name, str):
            if not name.strip():
                problems.add(f"{where}.name", "must not be empty")
            elif name in seen:
                problems.add(
                    f"{where}.name", f"duplicate feed name {name!r} (also feeds[{seen[name]}])"
                )
            else:
                seen[name] = i
        if isinstance(url, str):
            why = check_feed_url(url)
            if why:
                shown = redact_url(url) if len(url) <= 200 else f"{redact_url(url[:200])}..."
                problems.add(f"{where}.url", f"invalid URL {shown!r}: {why}")
        _positive(kwargs, where, problems)
        if isinstance(name, str) and isinstance(url, str):
            feeds.append(FeedSettings(**kwargs))
    return tuple(feeds)


def parse_address(text: str) -> Address:
    """``host:port`` (``[v6]:port`` for IPv6) -> ``Address``; ``ValueError`` when malformed."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"expected host:port, got {text!r}")
    host = host.strip("[]")
    if not host:
        raise ValueError(f"no host in {text!r}")
    if ":" in host:
        ipaddress.ip_address(host)  # an IPv6 literal must be a valid one
    return Address(host, int(port))


@dataclasses.dataclass(frozen=True)
class _DaemonTable:
    """The ``[daemon]`` table as written in TOML: its keys and their types. Parsing turns it
    into ``DaemonSettings`` (``daemon_table`` is the way back, for the defaults)."""

    min_interval: float
    max_interval: float
    backoff_base: float
    jitter: float
    stop_timeout: float
    health_address: str
    per_feed_metrics: bool
    log_format: str
    lease_seconds: float | None


@dataclasses.dataclass(frozen=True)
class _WebTable:
    """The ``[web]`` table as written in TOML."""

    address: str


def daemon_table(settings: DaemonSettings) -> dict[str, Any]:
    """``settings`` as the ``[daemon]`` keys and values of a TOML file."""
    schedule, address = settings.schedule, settings.health_address
    return {
        "min_interval": schedule.min_interval,
        "max_interval": schedule.max_interval,
        "backoff_base": schedule.backoff_base,
        "jitter": schedule.jitter,
        "stop_timeout": settings.stop_timeout,
        "health_address": "" if address is None else str(address),
        "per_feed_metrics": settings.per_feed_metrics,
        "log_format": settings.log_format,
        "lease_seconds": settings.lease_seconds,
    }


def _daemon(table: object, problems: _Problems) -> DaemonSettings:
    """Validate ``[daemon]`` and build its typed settings (one policy, one address)."""
    given = _section(_DaemonTable, table, "daemon", problems)
    _positive(given, "daemon", problems)
    values = {**daemon_table(DaemonSettings()), **given}
    lo, hi = values["min_interval"], values["max_interval"]
    if lo > hi:
        problems.add("daemon.min_interval", f"must not exceed daemon.max_interval ({lo} > {hi})")
    if values["log_format"] not in ("text", "json"):
        got = values["log_format"]
        problems.add("daemon.log_format", f'expected "text" or "json", got {got!r}')
    for key in ("min_interval", "max_interval", "backoff_base"):
        if values[key] == 0:
            problems.add(f"daemon.{key}", "must be greater than zero (0 would fetch in a loop)")
    address: Address | None = None
    if values["health_address"]:
        try:
            address = parse_address(values["health_address"])
        except ValueError as exc:
            problems.add("daemon.health_address", str(exc))
    schedule = SchedulePolicy(
        min_interval=values["min_interval"],
        max_interval=values["max_interval"],
        backoff_base=values["backoff_base"],
        jitter=values["jitter"],
    )
    return DaemonSettings(
        schedule=schedule,
        stop_timeout=values["stop_timeout"],
        health_address=address,
        per_feed_metrics=values["per_feed_metrics"],
        log_format=values["log_format"],
        lease_seconds=values["lease_seconds"],
    )


def web_table(settings: WebSettings) -> dict[str, Any]:
    """``settings`` as the ``[web]`` keys and values of a TOML file."""
    return {"address": "" if settings.address is None else str(settings.address)}


def _web(table: object, problems: _Problems) -> WebSettings:
    """Validate ``[web]``: ``address`` is ``host:port`` or ``""`` (off)."""
    given = _section(_WebTable, table, "web", problems)
    text = given.get("address", web_table(WebSettings())["address"])
    address: Address | None = None
    if text:
        try:
            address = parse_address(text)
        except ValueError as exc:
            problems.add("web.address", str(exc))
    return WebSettings(address=address)


def _limits(table: object, problems: _Problems) -> dict[str, Any]:
    """The ``[limits]`` table: every cap a whole number of at least 1."""
    kwargs = _section(LimitSettings, table, "limits", problems)
    for key, value in list(kwargs.items()):
        if value < 1:
            problems.add(f"limits.{key}", f"must be at least 1, got {value}")
            del kwargs[key]
    author = kwargs.get("max_author_chars")
    if author is not None and author > MAX_AUTHOR_CHARS_CEILING:
        problems.add(
            "limits.max_author_chars",
            f"must be at most {MAX_AUTHOR_CHARS_CEILING} (feedparser reads authors in quadratic "
            f"time), got {author}",
        )
    return kwargs


def check_retention(days: float, window_days: float) -> str | None:
    """Why ``days`` cannot be a retention, or ``None``: shorter than the dedup window, copies
    arriving later would find nothing to be compared with."""
    if days < window_days:
        return (
            f"must be at least dedup.window_days ({window_days:g}): articles younger than the "
            f"window are what new ones are compared with, got {days:g}"
        )
    return None


def _retention(value: object, dedup: object, problems: _Problems) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        problems.add("store.retention_days", f"expected a positive number of days, got {value!r}")
        return None
    window = DedupSettings().window_days
    if isinstance(dedup, dict) and isinstance(dedup.get("window_days"), int | float):
        window = float(dedup["window_days"])
    if why := check_retention(float(value), window):
        problems.add("store.retention_days", why)
        return None
    return float(value)


def settings_from_mapping(
    data: Mapping[str, Any],
    source: str = "<config>",
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Validate a parsed TOML document; raise ``ConfigError`` listing every problem.
    ``environ`` locates the default store (``os.environ`` when not given)."""
    problems = _Problems(source)
    known = {"store", "http", "dedup", "daemon", "web", "limits", "feeds"}
    for key in data:
        if key not in known:
            problems.add(key, f"unknown section (known: {', '.join(sorted(known))})")
    store = data.get("store")
    db: str | None = None
    retention: float | None = None
    if store is not None:
        if not isinstance(store, dict):
            problems.add("store", "expected a table")
        else:
            for key, value in store.items():
                if key == "retention_days":
                    retention = _retention(value, data.get("dedup"), problems)
                elif key != "db":
                    problems.add(f"store.{key}", "unknown key (known keys: db, retention_days)")
                elif not isinstance(value, str) or not value.strip():
                    problems.add("store.db", f"expected a database URL or path, got {value!r}")
                elif why := check_db(value):
                    problems.add("store.db", why)
                else:
                    db = value
    http_kwargs = _section(HttpSettings, data.get("http"), "http", problems)
    _positive(http_kwargs, "http", problems)
    if http_kwargs.get("max_redirects") == 0:
        pass  # zero redirects is a legitimate (strict) choice
    for key in (
        "connect_timeout",
        "read_timeout",
        "deadline",
        "max_body_bytes",
        "max_connections",  # 0 would make every fetch wait for a slot forever
        "per_host",
    ):
        if http_kwargs.get(key) == 0:
            problems.add(f"http.{key}", "must be greater than zero")
    agent = http_kwargs.get("user_agent")
    if isinstance(agent, str) and (why := check_header_value(agent)):
        problems.add("http.user_agent", why)
    proxy = http_kwargs.get("proxy")
    if isinstance(proxy, str) and (why := check_proxy(proxy)):
        problems.add("http.proxy", why)
    dedup_kwargs = _section(DedupSettings, data.get("dedup"), "dedup", problems)
    _positive(dedup_kwargs, "dedup", problems)
    for key in ("paragraph_min_overlap", "article_min_overlap", "paragraph_min_cover"):
        value = dedup_kwargs.get(key)
        if isinstance(value, float) and not 0.0 <= value <= 1.0:
            problems.add(f"dedup.{key}", f"must be between 0 and 1, got {value}")
    for key in ("paragraph_max_distance", "article_max_distance"):
        value = dedup_kwargs.get(key)
        if isinstance(value, int) and value > 64:
            problems.add(f"dedup.{key}", f"must be at most 64 (bits), got {value}")
    daemon = _daemon(data.get("daemon"), problems)
    web = _web(data.get("web"), problems)
    limit_kwargs = _limits(data.get("limits"), problems)
    feeds = _feeds(data.get("feeds"), problems)
    if problems.items:
        raise ConfigError(problems.items)
    return Settings(
        db=db or f"sqlite:///{default_db_path(os.environ if environ is None else environ)}",
        retention_days=retention,
        http=HttpSettings(**http_kwargs),
        dedup=DedupSettings(**dedup_kwargs),
        daemon=daemon,
        web=web,
        limits=LimitSettings(**limit_kwargs),
        feeds=feeds,
        source=source,
    )


def check_db(url: str) -> str | None:
    """Return why ``url`` cannot name a store, or ``None`` (the backend checks the rest)."""
    if "\x00" in url:
        return "a NUL character in the database URL"
    try:
        path = sqlite_path(url)
    except ConfigError as exc:  # its message says what to write
        return exc.message.removeprefix("db: ")
    except ValueError as exc:
        return f"invalid database URL {url!r}: {exc}"
    if path is not None and path != ":memory:" and Path(path).is_dir():
        return f"{path} is a directory, not a database file"
    return None


MAX_CONFIG_BYTES = 10 * 1024 * 1024
"""A configuration file larger than this is refused (it is not one)."""


def read_regular_file(path: str | os.PathLike[str], what: str, limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes; ``ConfigError`` naming ``what``
    otherwise (a directory, a FIFO that would block, ``/dev/zero`` that never ends)."""
    source = str(path)
    try:
        # O_NONBLOCK: opening a FIFO for reading would wait for a writer; files ignore it.
        with os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as handle:
            mode = os.fstat(handle.fileno()).st_mode
            if not stat.S_ISREG(mode):
                kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
                raise ConfigError(f"{source}: cannot read the {what}: {kind}")
            raw: bytes = handle.read(limit + 1)
    except FileNotFoundError as exc:
        raise ConfigError(f"{source}: cannot read the {what}: no such file") from exc
    except OSError as exc:
        raise ConfigError(f"{source}: cannot read the {what}: {exc.strerror or exc}") from exc
    if len(raw) > limit:
        raise ConfigError(f"{source}: the {what} is larger than {limit} bytes")
    return raw


def load(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> Settings:
    """Read and validate a configuration file (``environ``: see ``settings_from_mapping``)."""
    source = str(path)
    raw = read_regular_file(path, "configuration", MAX_CONFIG_BYTES)
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{source}: not UTF-8 text (byte {exc.start})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML: {exc}") from exc
    return settings_from_mapping(data, source, environ)


def resolve(
    config_path: str | None,
    db_override: str | None,
    environ: Mapping[str, str],
) -> Settings:
    """The settings a command runs with: file from ``--config``/``INGEST_CONFIG`` (optional),
    store from ``--db``/``INGEST_DB`` over the file's ``[store] db``."""
    path = config_path or environ.get("INGEST_CONFIG")
    settings = load(path, environ) if path else settings_from_mapping({}, "<defaults>", environ)
    if db_override is not None and not db_override.strip():
        raise ConfigError("--db: an empty database URL (sqlite:///PATH, a path, postgresql://...)")
    db = db_override or environ.get("INGEST_DB")
    if db:
        why = check_db(db)
        if why:
            raise ConfigError(f"{'--db' if db_override else 'INGEST_DB'}: {why}")
        settings = dataclasses.replace(settings, db=db)
    return settings
