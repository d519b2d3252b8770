"""The address policy: spellings of hosts, refused ranges, allow-lists, URL redaction.

HOSTILE.md section A, tests 1 and 2 (the table-driven half; the end-to-end half is in
test_fetch.py).
"""

from __future__ import annotations

import ipaddress

import pytest

from ingest.netguard import (
    is_local_name,
    is_refused,
    parse_host_address,
    redact_url,
)

LOOPBACK_ONLY = (ipaddress.ip_network("127.0.0.0/8"),)


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("127.0.0.1", "127.0.0.1"),
        ("2130706433", "127.0.0.1"),
        ("0x7f000001", "127.0.0.1"),
        ("0x7f.0.0.1", "127.0.0.1"),
        ("0X7F.0.0.1", "127.0.0.1"),
        ("0177.0.0.1", "127.0.0.1"),
        ("017700000001", "127.0.0.1"),
        ("127.1", "127.0.0.1"),
        ("127.0.1", "127.0.0.1"),
        ("127.0.0.1.", "127.0.0.1"),
        ("0", "0.0.0.0"),
        ("0x", "0.0.0.0"),
        ("10.0x10", "10.0.0.16"),
        ("0x08.0x08.0x08.0x08", "8.8.8.8"),
        ("[::1]", "::1"),
        ("::1", "::1"),
        ("[::ffff:127.0.0.1]", "::ffff:7f00:1"),
        ("fe80::1%eth0", "fe80::1"),
        ("fe80::1%25eth0", "fe80::1"),
    ],
)
def test_parse_host_address_reads_every_spelling(host: str, expected: str) -> None:
    assert parse_host_address(host) == ipaddress.ip_address(expected)


@pytest.mark.parametrize(
    "host",
    [
        "example.com",
        "localhost",
        "localhost.",
        "feeds.example.",
        "1a.example",
        "xn--mgbh0fb.example",
    ],
)
def test_names_are_not_addresses(host: str) -> None:
    assert parse_host_address(host) is None


@pytest.mark.parametrize(
    "host",
    [
        "256.1.1.1",
        "1.2.3.4.5",
        "4294967296",
        "0x100000000",
        "1..1",
        "08.0.0.1",
        "example.123",
        "%31%32%37.0.0.1",
        "[::1",
        "1:2:3",
    ],
)
def test_hosts_ending_in_a_number_must_be_valid_addresses(host: str) -> None:
    with pytest.raises(ValueError):
        parse_host_address(host)


# HOSTILE 1 (private destinations) and 2 (address-encoding bypasses), plus the other
# special-purpose ranges, each spelled as it would appear in a URL host.
REFUSED = [
    ("127.0.0.1", "loopback"),
    ("[::1]", "loopback"),
    ("10.0.0.1", "private"),
    ("172.16.0.1", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "link-local"),
    ("100.64.0.1", "CGNAT"),
    ("0.0.0.0", "this network"),
    ("fc00::1", "unique-local"),
    ("fe80::1", "link-local"),
    ("2130706433", "loopback"),
    ("0x7f.0.0.1", "loopback"),
    ("0177.0.0.1", "loopback"),
    ("127.1", "loopback"),
    ("[::ffff:127.0.0.1]", "IPv4-mapped"),
    ("64:ff9b::7f00:1", "NAT64"),
    ("2002:7f00:1::", "6to4"),
    ("192.0.0.8", "IETF protocol"),
    ("192.0.0.170", "IETF protocol"),
    ("192.0.2.1", "documentation"),
    ("198.18.0.1", "benchmarking"),
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("240.0.0.1", "reserved"),
    ("255.255.255.255", "reserved"),
    ("::", "unspecified"),
    ("::a00:1", "IPv4-compatible"),
    ("64:ff9b:1::a00:1", "local-use NAT64"),
    ("64:ff9b::a9fe:a9fe", "NAT64"),
    ("2002:a00:1::1", "6to4"),
    ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
    ("2001:db8::1", "documentation"),
    ("3fff::1", "documentation"),
    ("fd12:3456::1", "unique-local"),
    ("fec0::1", "site-local"),
    ("ff02::1", "multicast"),
    ("ff0e::1", "multicast"),
    ("100::1", "discard"),
    ("4000::1", "global unicast"),
]


@pytest.mark.parametrize(("host", "reason"), REFUSED)
def test_non_global_addresses_are_refused(host: str, reason: str) -> None:
    address = parse_host_address(host)
    assert address is not None
    refusal = is_refused(address)
    assert refusal is not None
    assert reason.lower() in refusal.lower()


@pytest.mark.parametrize("host", ["192.0.0.8", "64:ff9b::7f00:1", "2002:7f00:1::"])
def test_rows_that_is_global_alone_would_let_through_are_refused(host: str) -> None:
    # On Python 3.11.7 ipaddress calls these global (HOSTILE.md); the policy must not.
    address = ipaddress.ip_address(host)
    assert is_refused(address) is not None


@pytest.mark.parametrize(
    "host",
    [
        "8.8.8.8",
        "93.184.216.34",
        "0x08.0x08.0x08.0x08",
        "2606:4700:4700::1111",
        "[2a00:1450:4001:80b::200e]",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
        "2002:808:808::1",
    ],
)
def test_public_addresses_pass(host: str) -> None:
    address = parse_host_address(host)
    assert address is not None
    assert is_refused(address) is None


@pytest.mark.parametrize(
    ("host", "allow", "refused"),
    [
        ("127.0.0.1", ("127.0.0.0/8",), False),
        ("127.0.0.2", ("127.0.0.2/32",), False),
        ("127.0.0.1", ("127.0.0.2/32",), True),
        ("::ffff:127.0.0.1", ("127.0.0.0/8",), False),
        ("64:ff9b::7f00:1", ("127.0.0.0/8",), False),
        ("::1", ("127.0.0.0/8",), True),
        ("::1", ("127.0.0.0/8", "::1/128"), False),
        ("10.1.2.3", ("10.1.0.0/16",), False),
        ("10.2.0.1", ("10.1.0.0/16",), True),
        ("fd00::5", ("fd00::/8",), False),
    ],
)
def test_allow_list_wins(host: str, allow: tuple[str, ...], refused: bool) -> None:
    networks = tuple(ipaddress.ip_network(n) for n in allow)
    assert (is_refused(ipaddress.ip_address(host), networks) is not None) is refused


@pytest.mark.parametrize(
    ("host", "local"),
    [
        ("localhost", True),
        ("LOCALHOST.", True),
        ("feeds.localhost", True),
        ("localhost.localdomain", True),
        ("ip6-localhost", True),
        ("localhost.example.com", False),
        ("example.com", False),
        ("notlocalhost", False),
    ],
)
def test_local_names(host: str, local: bool) -> None:
    assert is_local_name(host) is local


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://example.com/feed.xml", "https://example.com/feed.xml"),
        ("https://user:hunter22@example.com/feed", "https://***@example.com/feed"),
        ("https://token123@example.com:8443/feed", "https://***@example.com:8443/feed"),
        ("https://example.com/feed?cat=5&token=abc", "https://example.com/feed?cat=5&token=***"),
        (
            "https://example.com/f?api_key=k&Signature=s",
            "https://example.com/f?api_key=***&Signature=***",
        ),
        (
            "https://example.com/f?u=aGVsbG8gd29ybGQgdGhpcyBpcyBsb25n",
            "https://example.com/f?u=***",
        ),
        ("https://example.com/feed#access_token=xyz", "https://example.com/feed"),
        ("/var/feeds/a.xml", "/var/feeds/a.xml"),
        ("sqlite:///var/lib/ingest/ingest.db", "sqlite:///var/lib/ingest/ingest.db"),
        (
            "postgresql://ingest:pw@db.internal:5432/ingest",
            "postgresql://***@db.internal:5432/ingest",
        ),
        ("https://example.com/f?q=a+b&x=%2F", "https://example.com/f?q=a+b&x=%2F"),
        ("https://example.com/f?", "https://example.com/f?"),
        ("http://u:p@[::1/feed?token=abc", "http://***@[::1/feed"),
    ],
)
def test_redact_url(url: str, expected: str) -> None:
    assert redact_url(url) == expected
