"""Link hygiene: which links we keep, and one spelling per article address.

Pure and standard-library only. Two functions:

- :func:`safe_link` keeps only absolute ``http``/``https`` links and returns ``None`` for
  everything else (``javascript:``, ``data:``, ``vbscript:``, ``mailto:``, relative or
  protocol-relative paths, links with credentials, over-long or malformed addresses). It
  strips what browsers strip (surrounding spaces and controls, tabs and newlines anywhere),
  so ``" java\\tscript:alert(1)"`` is recognised for what it is.
- :func:`canonical_url` turns a safe link into the key used to spot the same article under
  different spellings: scheme and host lower-cased (host as IDNA ASCII when possible),
  default port, fragment and tracking parameters dropped, remaining query parameters
  sorted by name, percent-encoding normalised (``%d8`` == ``%D8``, ``%7E`` == ``~``, raw non-ASCII
  encoded as UTF-8), dot segments resolved, and a trailing slash removed from every path
  but the root (``https://a.example`` and ``https://a.example/`` are both
  ``https://a.example/``; ``/news/1/`` becomes ``/news/1``).

The canonical form is a comparison key: links shown to people keep their original spelling.
"""

from __future__ import annotations

import re
from urllib.parse import SplitResult, urlsplit, urlunsplit

__all__ = [
    "MAX_URL_CHARS",
    "TRACKING_PARAMS",
    "TRACKING_PREFIXES",
    "canonical_url",
    "safe_link",
]

MAX_URL_CHARS = 4096
"""Longer links are refused: no news article needs more, and a 10 MB ``href`` is an attack."""

TRACKING_PARAMS = frozenset(
    {
        # Feed and referral tags seen on Arabic outlets (Al Jazeera adds ?traffic_source=rss).
        "traffic_source",
        "ref",
        "ref_src",
        "ref_url",
        "referrer",
        "ocid",
        "cmpid",
        "ncid",
        "s_cid",
        "sr_share",
        # Ad-click identifiers.
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "gbraid",
        "wbraid",
        "msclkid",
        "yclid",
        "twclid",
        "ttclid",
        "li_fat_id",
        "igshid",
        # Newsletter and analytics tags.
        "mc_cid",
        "mc_eid",
        "mkt_tok",
        "_ga",
        "_gl",
        "_hsenc",
        "_hsmi",
        "at_medium",
        "at_campaign",
        "wt.mc_id",
        "spm",
        "fb_action_ids",
        "fb_action_types",
        "fb_source",
        "fb_ref",
        "__twitter_impression",
    }
)
"""Query parameter names (compared lower-cased) that never identify an article."""

TRACKING_PREFIXES = ("utm_", "hsa_", "pk_", "mtm_", "itm_")
"""Name prefixes of tracking families (Google, HubSpot, Piwik/Matomo, internal promos)."""

_DEFAULT_PORTS = {"http": 80, "https": 443}
# Browsers delete tabs and newlines anywhere in a URL and trim C0 controls and spaces.
_BROWSER_IGNORED = str.maketrans("", "", "\t\n\r")
_TRIM = "".join(chr(c) for c in range(0x21)) + "\u00a0\u200b\u200e\u200f\ufeff"
_PERCENT = re.compile(r"%([0-9A-Fa-f]{2})")
_ESCAPE_RUN = re.compile(r"(?:%[0-9A-Fa-f]{2})+")
# Escapes of unreserved characters (ALPHA, DIGIT, "-", ".", "_", "~"), once upper-cased.
_UNRESERVED_ESCAPE = re.compile(r"%(?:2[DE]|3[0-9]|4[1-9A-F]|5[0-9AF]|6[1-9A-F]|7[0-9AE])")
# One character to percent-encode: outside the set left as is, or a "%" starting no escape.
_UNSAFE_IN_PATH = re.compile(r"[^A-Za-z0-9\-._~!$&'()*+,;=:@/%]|%(?![0-9A-Fa-f]{2})")
_UNSAFE_IN_QUERY = re.compile(r"[^A-Za-z0-9\-._~!$'()*+,;:@/?%]|%(?![0-9A-Fa-f]{2})")
_UNSAFE_IN_VALUE = re.compile(r"[^A-Za-z0-9\-._~!$'()*+,;=:@/?%]|%(?![0-9A-Fa-f]{2})")


def safe_link(url: str | None) -> str | None:
    """Return ``url`` trimmed if it is an absolute http(s) link we may store, else ``None``."""
    if not url:
        return None
    cleaned = url.translate(_BROWSER_IGNORED).strip(_TRIM)
    if not cleaned or len(cleaned) > MAX_URL_CHARS:
        return None
    parts = _split(cleaned)
    if parts is None or parts.scheme.lower() not in _DEFAULT_PORTS:
        return None
    return cleaned


def canonical_url(url: str | None) -> str | None:
    """Return the comparison key of a safe http(s) link, or ``None`` if it is not one."""
    link = safe_link(url)
    if link is None:
        return None
    parts = _split(link)
    if parts is None:  # pragma: no cover - safe_link already checked it
        return None
    scheme = parts.scheme.lower()
    host = _canonical_host(parts.hostname or "")
    port = parts.port
    if ":" in host:  # an IPv6 literal keeps its brackets
        host = f"[{host}]"
    netloc = host if port is None or port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    path = _canonical_path(parts.path)
    query = _canonical_query(parts.query)
    return urlunsplit((scheme, netloc, path, query, ""))


def _split(url: str) -> SplitResult | None:
    """Split an absolute http(s) URL, or ``None`` when it is malformed or carries credentials."""
    try:
        parts = urlsplit(url)
        port = parts.port  # raises ValueError for a port that is not a number in range
    except ValueError:
        return None
    host = parts.hostname
    if not host or parts.username is not None or parts.password is not None:
        return None
    if port == 0 or any(c.isspace() or c in "\\<>\"'`{}|^" for c in host):
        return None
    return parts


def _canonical_host(host: str) -> str:
    host = host.lower().rstrip(".")
    if host.isascii():
        return host
    try:
        return host.encode("idna").decode("ascii")
    except UnicodeError:
        # Python's codec implements IDNA 2003, which refuses some valid names: keep Unicode.
        return host


def _canonical_path(path: str) -> str:
    path = _normalise_escapes(path, _UNSAFE_IN_PATH)
    if not path.startswith("/"):
        path = "/" + path
    if "." in path:
        path = _remove_dot_segments(path)
    # One spelling for "/a/b/" and "/a/b"; the root keeps its slash.
    stripped = path.rstrip("/")
    return stripped or "/"


def _canonical_query(query: str) -> str:
    if not query:
        return ""
    kept: list[tuple[str, str]] = []
    for pair in query.split("&"):
        if not pair:
            continue
        name, sep, value = pair.partition("=")
        name = _normalise_escapes(name, _UNSAFE_IN_QUERY)
        if _is_tracking(name):
            continue
        value = _normalise_escapes(value, _UNSAFE_IN_VALUE)
        kept.append((name, f"{name}{sep}{value}"))
    # Sorted by name only: the order of a repeated parameter's values may mean something.
    kept.sort(key=lambda item: item[0])
    return "&".join(item[1] for item in kept)


def _is_tracking(name: str) -> bool:
    key = _PERCENT.sub(_decode, name).lower()
    return key in TRACKING_PARAMS or key.startswith(TRACKING_PREFIXES)


def _normalise_escapes(text: str, unsafe: re.Pattern[str]) -> str:
    """Upper-case percent escapes, decode unreserved ones, encode what ``unsafe`` matches."""
    if "%" in text:
        text = _ESCAPE_RUN.sub(_upper, text)
        text = _UNRESERVED_ESCAPE.sub(_decode, text)
    if unsafe.search(text):
        text = unsafe.sub(_encode, text)
    return text


def _upper(match: re.Match[str]) -> str:
    return match.group().upper()


def _decode(match: re.Match[str]) -> str:
    return chr(int(match.group()[1:], 16))


def _encode(match: re.Match[str]) -> str:
    return "".join(f"%{byte:02X}" for byte in match.group().encode("utf-8", "surrogatepass"))


def _remove_dot_segments(path: str) -> str:
    """Resolve ``.`` and ``..`` segments of an absolute path (RFC 3986, section 5.2.4)."""
    output: list[str] = []
    for segment in path.split("/")[1:]:
        if segment == "..":
            if output:
                output.pop()
        elif segment != ".":
            output.append(segment)
    return "/" + "/".join(output)
