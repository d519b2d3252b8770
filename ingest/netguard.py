"""The address policy behind the fetcher's SSRF guard: pure functions, standard library only.

A feed URL may name any host, so before the fetcher talks to an address it asks
:func:`is_refused` whether that address is one a public feed can legitimately live on.
By default only globally reachable unicast addresses pass; the operator can allow chosen
networks (``http.allow_networks``), which is how the tests reach 127.0.0.1.

``ipaddress.is_global`` alone is not enough on Python 3.11 (it calls ``192.0.0.8``,
``64:ff9b::7f00:1`` and ``2002:7f00:1::`` global), so the special-purpose ranges of the
IANA registries are listed here with a reason each, and addresses that carry an IPv4
address inside them (IPv4-mapped, NAT64, 6to4) are judged by that embedded address.

:func:`parse_host_address` reads the odd spellings of an IPv4 address a URL host can use
(``2130706433``, ``0x7f.1``, ``0177.0.0.1``, ``127.1``) the way ``inet_aton`` and the WHATWG
URL standard do, so ``http://2130706433/`` is judged as 127.0.0.1, not as a name.
:func:`redact_url` hides userinfo and secret-looking query values before a URL is shown.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import parse_qsl, urlencode, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_V4 = ipaddress.IPv4Network
_V6 = ipaddress.IPv6Network

# IANA IPv4 Special-Purpose Address Registry, plus multicast and the old 6to4 relay anycast.
# Ranges the registry marks globally reachable (AS112, AMT) are left out on purpose.
_REFUSED_V4: tuple[tuple[ipaddress.IPv4Network, str], ...] = (
    (_V4("0.0.0.0/8"), "'this network' (unspecified)"),
    (_V4("10.0.0.0/8"), "private"),
    (_V4("100.64.0.0/10"), "shared address space (CGNAT)"),
    (_V4("127.0.0.0/8"), "loopback"),
    (_V4("169.254.0.0/16"), "link-local"),
    (_V4("172.16.0.0/12"), "private"),
    (_V4("192.0.0.0/24"), "IETF protocol assignments"),
    (_V4("192.0.2.0/24"), "documentation"),
    (_V4("192.88.99.0/24"), "6to4 relay anycast"),
    (_V4("192.168.0.0/16"), "private"),
    (_V4("198.18.0.0/15"), "benchmarking"),
    (_V4("198.51.100.0/24"), "documentation"),
    (_V4("203.0.113.0/24"), "documentation"),
    (_V4("224.0.0.0/4"), "multicast"),
    (_V4("240.0.0.0/4"), "reserved"),
)

# IANA IPv6 Special-Purpose Address Registry. Order matters: the first match names the reason.
_REFUSED_V6: tuple[tuple[ipaddress.IPv6Network, str], ...] = (
    (_V6("::/128"), "unspecified"),
    (_V6("::1/128"), "loopback"),
    (_V6("::/96"), "IPv4-compatible (deprecated)"),
    (_V6("64:ff9b:1::/48"), "local-use NAT64"),
    (_V6("100::/64"), "discard-only"),
    (_V6("2001::/32"), "Teredo"),
    (_V6("2001:db8::/32"), "documentation"),
    (_V6("2001::/23"), "IETF protocol assignments"),
    (_V6("3fff::/20"), "documentation"),
    (_V6("5f00::/16"), "SRv6 SIDs"),
    (_V6("fc00::/7"), "unique-local"),
    (_V6("fe80::/10"), "link-local"),
    (_V6("fec0::/10"), "site-local (deprecated)"),
    (_V6("ff00::/8"), "multicast"),
)

_NAT64 = _V6("64:ff9b::/96")
_SIX_TO_FOUR = _V6("2002::/16")
_GLOBAL_UNICAST_V6 = _V6("2000::/3")

# Names that always mean this machine (RFC 6761 and Debian's /etc/hosts), judged as loopback
# even before any lookup, so an injected transport without a connect-time check refuses them.
_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})

_HEX_NUMBER = re.compile(r"0[xX][0-9a-fA-F]*")
_SECRET_KEY = re.compile(
    r"(token|key|secret|pass|pwd|auth|sig|session|sid|cred|hash|code|access)", re.IGNORECASE
)
# A long run of token characters is most likely a credential whatever its key is called.
_TOKEN_VALUE = re.compile(r"[A-Za-z0-9_\-+/=.~%]{24,}")
_MASK = "***"


def parse_host_address(host: str) -> IPAddress | None:
    """Return the IP address a URL host spells, or ``None`` when the host is a DNS name.

    Accepts ``[v6]`` brackets and a zone suffix (``fe80::1%eth0``, ``%25eth0``). A host whose
    last label is a number (``127.1``, ``0x7f.0.0.1``, ``2130706433``) is an IPv4 address in
    the ``inet_aton`` sense; if it is not a valid one (``256.1.1.1``, ``1.2.3.4.5``), raise
    ``ValueError``: such a host is neither an address nor a name (WHATWG URL standard).
    """
    text = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if ":" in text:
        return ipaddress.IPv6Address(text.split("%", 1)[0])
    name = text[:-1] if text.endswith(".") else text
    labels = name.split(".")
    if not labels or not _is_number(labels[-1]):
        return None
    return _parse_ipv4_numbers(labels, host)


def _is_number(label: str) -> bool:
    return (label.isascii() and label.isdigit()) or _HEX_NUMBER.fullmatch(label) is not None


def _parse_ipv4_numbers(labels: list[str], host: str) -> ipaddress.IPv4Address:
    if len(labels) > 4:
        raise ValueError(f"{host!r} ends in a number but has more than four parts")
    numbers = [_parse_ipv4_part(label, host) for label in labels]
    # Every part but the last is one byte; the last fills the remaining bytes (inet_aton).
    value = 0
    for number in numbers[:-1]:
        if number > 255:
            raise ValueError(f"{host!r}: part {number} is larger than 255")
        value = value * 256 + number
    room = 5 - len(numbers)
    if numbers[-1] >= 256**room:
        raise ValueError(f"{host!r}: last part {numbers[-1]} does not fit in {room} bytes")
    return ipaddress.IPv4Address(value * 256**room + numbers[-1])


def _parse_ipv4_part(label: str, host: str) -> int:
    if not label:
        raise ValueError(f"{host!r} has an empty part")
    if label[:2] in ("0x", "0X"):
        return int(label[2:] or "0", 16)
    if not (label.isascii() and label.isdigit()):
        raise ValueError(f"{host!r}: {label!r} is not a number")
    if len(label) > 1 and label.startswith("0"):
        if any(digit in "89" for digit in label):
            raise ValueError(f"{host!r}: {label!r} is not an octal number")
        return int(label, 8)
    return int(label)


def is_local_name(host: str) -> bool:
    """Whether ``host`` is a name for this machine: ``localhost``, ``localhost.``..."""
    name = host.lower().rstrip(".")
    return name in _LOCAL_NAMES or name.endswith(".localhost")


def is_refused(addr: IPAddress, allow: tuple[IPNetwork, ...] = ()) -> str | None:
    """Why a connection to ``addr`` is refused, or ``None`` when it may go ahead.

    ``allow`` lists networks the operator explicitly allows; they win over every rule.
    Addresses carrying an IPv4 address (IPv4-mapped, NAT64 ``64:ff9b::/96``, 6to4
    ``2002::/16``) are judged by the embedded address.
    """
    if any(addr in network for network in allow):
        return None
    if isinstance(addr, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(addr)
        if embedded is not None:
            kind, inner = embedded
            reason = is_refused(inner, allow)
            return None if reason is None else f"{kind} of {inner} ({reason})"
    table: tuple[tuple[IPNetwork, str], ...] = (
        _REFUSED_V4 if isinstance(addr, ipaddress.IPv4Address) else _REFUSED_V6
    )
    for network, reason in table:
        if addr in network:
            return reason
    if not addr.is_global:
        return "not globally reachable"
    if isinstance(addr, ipaddress.IPv6Address) and addr not in _GLOBAL_UNICAST_V6:
        return "outside IPv6 global unicast (2000::/3)"
    return None


def _embedded_ipv4(addr: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    if addr.ipv4_mapped is not None:
        return "IPv4-mapped form", addr.ipv4_mapped
    if addr in _NAT64:
        return "NAT64 form", ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    if addr in _SIX_TO_FOUR and addr.sixtofour is not None:
        return "6to4 form", addr.sixtofour
    return None


def redact_url(url: str) -> str:
    """``url`` fit to show in errors, logs and status: userinfo and secret query values masked.

    Query values are masked when their key looks like a credential (``token``, ``key``,
    ``sig`` ...) or the value looks like one (24 or more token characters). The fragment is
    dropped. Everything else is kept as written (``sqlite:///path`` stays as it is); a
    string that does not parse as a URL keeps only what precedes its query.
    """
    head = url.partition("#")[0]
    base, question, query = head.partition("?")
    try:
        netloc = urlsplit(head).netloc
    except ValueError:
        return re.sub(r"//[^/@]*@", f"//{_MASK}@", re.split(r"[?#]", url, maxsplit=1)[0])
    if "@" in netloc:
        userinfo = netloc.rpartition("@")[0]
        base = base.replace(f"//{userinfo}@", f"//{_MASK}@", 1)
    return f"{base}{question}{_redact_query(query)}"


def _redact_query(query: str) -> str:
    pairs = parse_qsl(query, keep_blank_values=True)
    masked = [
        (key, _MASK if _SECRET_KEY.search(key) or _TOKEN_VALUE.fullmatch(value) else value)
        for key, value in pairs
    ]
    if masked == pairs:
        return query  # nothing secret: keep the query exactly as written
    return urlencode(masked, safe="*/:")
