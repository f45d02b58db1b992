"""PII redaction: e-mail addresses, public IP addresses (IPv4 and IPv6) and, when asked, phone numbers are replaced
by harmless stand-ins, as datatrove's `PIIFormatter` does (same e-mail and IPv4 stand-ins, same rule that only
public addresses are personal), with stricter patterns so that source code survives untouched.

Decisions, where datatrove's patterns and source code disagree:
- E-mail local part: the characters real addresses use (letters, digits, `._%+-`), not all of RFC 5322's atext:
  datatrove's `'`, `=` and `/` make `'john@example.com'` lose its opening quote and `mail=john@example.com` its
  key. It must start a token (nothing of an address, nor `/` or `\\`, right before it: `"\\n@triton.jit"`).
- E-mail domain: at least two labels and a top-level domain of 2-63 letters (or an `xn--` IDN), as every real TLD
  is; or a bracketed IPv4 literal (`user@[192.0.2.1]`). So `@property`, `obj.attr@matrix`, `A@B.T`, `pkg@1.2.3`,
  SQL's `user@localhost` and `root@10.0.0.1` are no e-mail. Nothing may follow that would continue a name or call
  it: a letter or digit, `-`, `@`, `(`, `[`, `.` then a letter or digit. A domain starting `self.` or `cls.` is a
  matrix product written without spaces (`x@self.weight`), not a mailbox.
- `git@github.com:org/repo.git` (and any `user@host:path`, scp/ssh syntax) is a login on a host, not a mailbox:
  kept. A colon right after an address is allowed only before a space or the end (`mail john@example.com: ...`).
- Public IP: `ipaddress` parses it and `is_global` holds (datatrove's rule: private, loopback, link-local,
  documentation and shared ranges are kept), multicast excepted (a group, not a host). IPv6 must also lie in
  2000::/3, the only global unicast space IANA allocates: Python 3.11's `is_global` calls `dead::beef` or `a::b`
  global, and C++'s `std::vector` or Python's `a[::2]` never reach the parser at all.
- IPv4 boundaries: datatrove's pattern has none (`1.2.3.4.5` and `11.22.33.444` hold matches); here the address
  must stand alone: no letter, digit or `.` before it, no letter or digit after it, nor `.` and one
  (`11.2.0.4.v3`, `1.0.0.127.in-addr.arpa`).
- Version strings, section numbers, OIDs: `__version__ = "1.2.3.4"` is a valid, global IPv4 address. Kept as
  numbering, not redacted: a dotted quad of four one-digit numbers (`1.2.3.4`, RFC sections like `8.1.2.2`: about
  9,000 of the 3.7 billion public addresses look so, and those are well-known services' such as 1.1.1.1, 8.8.8.8,
  not a person's), and one right after version/release/revision/ver/rev, section/sec/§/chapter, `RFC nnnn`, OID /
  ObjectIdentifier or a version specifier (`__version__ = "12.0.3.15"`, `Version: `, `"version": "`, `>=`).
  Anywhere else a valid public dotted quad is taken for an address and redacted, as datatrove does
  (`Guile 3.0.5.130` included: the price of not missing addresses).
- Phone numbers (off by default: they collide with numbers in code and tables far more often): an international
  number (`+`, a country code not starting with 0, 8-15 digits in all, groups split by spaces or dashes, or 11-15
  digits unsplit) or a North-American one (`(202) 555-0173`, `202-555-0173`, `202.555.0173`). Signed numbers
  (`+1.000000`, `+4294967296`, `+000000120`) are not phone numbers.
- Stand-ins cycle in order within one text (the i-th address found gets replacement i mod n), so one document
  always redacts the same way, in any process (datatrove's counter runs on across documents).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass

from pydantic import field_validator

from curators.settings import StrictModel

__all__ = ["PiiConfig", "PiiCounts", "redact"]

# datatrove 0.10.1's defaults: example.com/org are kept by IANA as examples; the IPv4 list was randomly generated
# (none answered a ping when datatrove made it).
DEFAULT_EMAIL_REPLACEMENT = ("email@example.com", "firstname.lastname@example.org")
DEFAULT_IP_REPLACEMENT = (
    "22.214.171.124",
    "126.96.36.199",
    "188.8.131.52",
    "184.108.40.206",
    "220.127.116.11",
    "18.104.22.168",
)
# datatrove has no IPv6 nor phone stand-ins: addresses from the documentation prefix 2001:db8::/32 (RFC 3849), and
# numbers from the ranges kept for fiction (North America's 555-01xx, Ofcom's 020 7946 0xxx).
DEFAULT_IPV6_REPLACEMENT = ("2001:db8:85a3::8a2e:370:7334", "2001:db8::ff00:42:8329")
DEFAULT_PHONE_REPLACEMENT = ("+1-202-555-0100", "+44 20 7946 0018")


class PiiConfig(StrictModel):
    """What `redact` replaces, and with what. A replacement is one string or a tuple used in turn."""

    enabled: bool = True
    emails: bool = True
    ip_addresses: bool = True  # public IPv4 and IPv6 only (see the module's docstring)
    phone_numbers: bool = False
    email_replacement: tuple[str, ...] = DEFAULT_EMAIL_REPLACEMENT
    ip_replacement: tuple[str, ...] = DEFAULT_IP_REPLACEMENT
    ipv6_replacement: tuple[str, ...] = DEFAULT_IPV6_REPLACEMENT
    phone_replacement: tuple[str, ...] = DEFAULT_PHONE_REPLACEMENT

    @field_validator("email_replacement", "ip_replacement", "ipv6_replacement", "phone_replacement", mode="before")
    @classmethod
    def _one_or_more(cls, value: object) -> object:
        if isinstance(value, str):
            return (value,)
        if isinstance(value, list | tuple) and not value:
            raise ValueError("needs at least one replacement string")
        return value


@dataclass(slots=True)
class PiiCounts:
    """How many of each kind `redact` replaced in one text."""

    emails: int = 0
    ip_addresses: int = 0  # IPv4 and IPv6
    phone_numbers: int = 0

    @property
    def total(self) -> int:
        return self.emails + self.ip_addresses + self.phone_numbers


_OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = rf"{_OCTET}(?:\.{_OCTET}){{3}}"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_TLD = r"(?:[A-Za-z]{2,63}|[Xx][Nn]--[A-Za-z0-9-]{1,59})"

_EMAIL = re.compile(
    r"(?<![\w%+.\-/@\\])"  # starts a token (not after "\\": "\\n@triton.jit" in a string literal)
    r"[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*"
    rf"@(?!(?:self|cls)\.)(?:(?:{_LABEL}\.)+{_TLD}|\[{_IPV4}\])"  # x@self.weight: a matrix product
    r"(?![\w@(\[-]|\.[A-Za-z0-9]|:\S)"  # no name, call, index or scp path goes on
)

_H = r"[0-9A-Fa-f]{1,4}"
_IP = re.compile(
    r"(?=\d)(?:"  # both start with a digit: the lookahead lets the engine skip the rest fast (4x)
    # IPv6 in 2000::/3: a first group of four hex digits starting 2 or 3; full, or compressed with one "::".
    rf"(?<![\w:.])(?P<v6>[23][0-9A-Fa-f]{{3}}(?:(?::{_H}){{7}}|(?::{_H}){{0,6}}::(?:{_H}(?::{_H}){{0,5}})?))"
    r"(?![\w:]|\.\d)"
    rf"|(?<![\w.])(?P<v4>{_IPV4})(?!\w|\.\w)"
    r")"
)
_GLOBAL_UNICAST = ipaddress.IPv6Network("2000::/3")
# Words after which a dotted quad numbers a version, a section or an object, not a host.
_NUMBERING_BEFORE = re.compile(
    r"(?:version|release|revision|\bver|\brev|section|\bsec|\bsect|chapter|§|\brfc\s*\d+|\boid|objectidentifier"
    r"|[<>=!~]=)"  # and a version specifier (>=3.10.0.0)
    r"(?:_\w*|s)?[\s\"'`:=(,\[{#-]{0,8}$",
    re.IGNORECASE,
)

_PHONE = re.compile(
    r"(?=[+(\d])(?<![\w+.\-/])(?:"
    # international: +44 20 7946 0958, +1-202-555-0173, +1 (202) 555-0173, +49 (0)30 1234567, +14155552671
    r"\+[1-9]\d{0,2}(?:[ -]?\(\d{1,4}\)[ -]?\d{1,10}|[ -]\d{1,10})(?:[ -]\d{1,10}){0,4}"
    r"|\+[1-9]\d{10,14}"
    # North American: (202) 555-0173, 202-555-0173, 202.555.0173
    r"|\([2-9]\d{2}\) ?\d{3}[ .-]\d{4}"
    r"|[2-9]\d{2}([.-])\d{3}\1\d{4}"
    r")(?!\w|[.-]\d)"
)


def _is_public_v4(address: str, text: str, start: int) -> bool:
    try:
        ip = ipaddress.IPv4Address(address)
    except ValueError:
        return False
    if not ip.is_global or ip.is_multicast:
        return False
    if all(len(octet) == 1 for octet in address.split(".")):
        return False  # 3.4.1.2, 8.1.2.2, 1.2.3.4: sections and versions; 9000 of 3.7 billion public addresses
    return not _NUMBERING_BEFORE.search(text, max(0, start - 40), start)


def _is_public_v6(address: str) -> bool:
    try:
        ip = ipaddress.IPv6Address(address)
    except ValueError:
        return False
    return ip.is_global and not ip.is_multicast and ip in _GLOBAL_UNICAST


def _cycle(replacements: tuple[str, ...]) -> Callable[[], str]:
    state = [0]

    def nxt() -> str:
        value = replacements[state[0] % len(replacements)]
        state[0] += 1
        return value

    return nxt


def _redact_emails(text: str, config: PiiConfig) -> tuple[str, int]:
    nxt = _cycle(config.email_replacement)
    return _EMAIL.subn(lambda _m: nxt(), text)


def _redact_ips(text: str, config: PiiConfig) -> tuple[str, int]:
    v4, v6 = _cycle(config.ip_replacement), _cycle(config.ipv6_replacement)
    count = 0

    def replace(m: re.Match[str]) -> str:
        nonlocal count
        if m.group("v6") is not None:
            if not _is_public_v6(m.group("v6")):
                return m.group(0)
            count += 1
            return v6()
        if not _is_public_v4(m.group("v4"), text, m.start()):
            return m.group(0)
        count += 1
        return v4()

    return _IP.sub(replace, text), count


def _redact_phones(text: str, config: PiiConfig) -> tuple[str, int]:
    nxt = _cycle(config.phone_replacement)
    count = 0

    def replace(m: re.Match[str]) -> str:
        nonlocal count
        if not 8 <= sum(c.isdigit() for c in m.group(0)) <= 15:
            return m.group(0)
        count += 1
        return nxt()

    return _PHONE.sub(replace, text), count


def redact(text: str, config: PiiConfig) -> tuple[str, PiiCounts]:
    """The text with its e-mail addresses, public IPs and (if enabled) phone numbers replaced, and how many of
    each. One regex pass per kind, in that order; with `config.enabled` false the text comes back untouched."""
    counts = PiiCounts()
    if not config.enabled:
        return text, counts
    if config.emails and "@" in text:
        text, counts.emails = _redact_emails(text, config)
    if config.ip_addresses and ("." in text or ":" in text):
        text, counts.ip_addresses = _redact_ips(text, config)
    if config.phone_numbers:
        text, counts.phone_numbers = _redact_phones(text, config)
    return text, counts
