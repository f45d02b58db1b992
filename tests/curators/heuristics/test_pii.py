"""PII redaction: what is an address and what is code, on hand-made cases and on real standard-library modules."""

from __future__ import annotations

import re
import sys
import sysconfig
from pathlib import Path

import pydantic
import pytest

from curators.heuristics.pii import (
    DEFAULT_EMAIL_REPLACEMENT,
    DEFAULT_IP_REPLACEMENT,
    DEFAULT_IPV6_REPLACEMENT,
    DEFAULT_PHONE_REPLACEMENT,
    PiiConfig,
    PiiCounts,
    redact,
)

DEFAULT = PiiConfig()
MARKED = PiiConfig(
    email_replacement="<EMAIL>", ip_replacement="<IP>", ipv6_replacement="<IP6>", phone_replacement="<PHONE>"
)


def marked(text: str, **overrides: bool) -> str:
    return redact(text, MARKED.model_copy(update=overrides))[0]


# --- e-mail -----------------------------------------------------------------------------------------------------


def test_emails_are_replaced_in_turn_and_counted() -> None:
    text = "Write to john.doe@example.com, <guido@python.org> or jane+news@mail.example.co.uk."
    out, counts = redact(text, DEFAULT)
    a, b = DEFAULT_EMAIL_REPLACEMENT
    assert out == f"Write to {a}, <{b}> or {a}."
    assert counts == PiiCounts(emails=3, ip_addresses=0, phone_numbers=0) and counts.total == 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("'john@example.com'", "'<EMAIL>'"),  # datatrove's atext would swallow the opening quote
        ("mail=john@example.com", "mail=<EMAIL>"),
        ("mailto:x.y@example.org", "mailto:<EMAIL>"),
        ("Email:jane@corp.io: call her", "Email:<EMAIL>: call her"),
        ("user@[192.0.2.1] wrote", "<EMAIL> wrote"),
        ("ends a sentence: bob@example.com.", "ends a sentence: <EMAIL>."),
        ("IDN: ana@example.xn--p1ai", "IDN: <EMAIL>"),
    ],
)
def test_email_forms(text: str, expected: str) -> None:
    assert marked(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "@property\ndef name(self):\n    return self._name",
        "    @functools.lru_cache(maxsize=None)\n    def f(): ...",
        "y = obj.attr@matrix",
        "y = A@B.T",
        "y = x@self.weight\nz = h@cls.proj",
        "out = q@k.transpose(-2, -1)",
        "git clone git@github.com:org/repo.git",
        "ssh://git@github.com/org/repo.git",
        "GRANT ALL ON db.* TO 'app'@'localhost'; CREATE USER app@localhost;",
        "ssh root@10.0.0.1",
        "npm i react@18.2.0 @types/node@20.1.0 && pip install pkg@1.2.3",
        'src += "\\n@triton.jit\\n"',
        "docker pull image@sha256:0123abcd",
        "@media (max-width: 600px) { @import url(x.css); }",
    ],
)
def test_code_is_not_an_email(text: str) -> None:
    assert redact(text, DEFAULT) == (text, PiiCounts())


# --- IP addresses -----------------------------------------------------------------------------------------------


def test_public_ipv4_is_replaced_private_kept() -> None:
    text = "client 203.0.114.7 via 198.51.101.12, gateway 192.168.1.1, lo 127.0.0.1, doc 192.0.2.1, cgn 100.64.0.1."
    out, counts = redact(text, DEFAULT)
    a, b = DEFAULT_IP_REPLACEMENT[:2]
    assert out == f"client {a} via {b}, gateway 192.168.1.1, lo 127.0.0.1, doc 192.0.2.1, cgn 100.64.0.1."
    assert counts == PiiCounts(ip_addresses=2)


def test_public_ipv6_is_replaced() -> None:
    text = "dns 2001:4860:4860::8888, [2a00:1450:4001:82b::200e]:443 and 2620:0:1cfe:face:b00c:0:0:3"
    out, counts = redact(text, DEFAULT)
    a, b = DEFAULT_IPV6_REPLACEMENT
    assert out == f"dns {a}, [{b}]:443 and {a}"
    assert counts.ip_addresses == 3


@pytest.mark.parametrize(
    "text",
    [
        "std::vector<std::string> v; ns::a::b();",
        "evens = a[::2]; rev = s[::-1]; x = m[1::3]",
        "dead::beef cafe::babe a::b",  # valid IPv6 syntax, is_global in Python 3.11, but outside 2000::/3
        "::1 fe80::1%eth0 fc00::1 2001:db8::1 ::ffff:10.0.0.1 ff02::1",  # loopback, link-local, ULA, doc, multicast
        "12:34:56 and 00:1a:2b:3c:4d:5e and 2001:db8",  # a time, a MAC address, two groups
        "1.2.3.4.5 and 11.22.33.444 and 01.02.03.04",  # no address stands alone / leading zeros
        "224.0.0.251 255.255.255.255 0.0.0.0",  # multicast, broadcast, unspecified
        "1.0.0.127.in-addr.arpa and oracle 11.2.0.4.v3",
    ],
)
def test_non_addresses_are_kept(text: str) -> None:
    assert redact(text, DEFAULT) == (text, PiiCounts())


@pytest.mark.parametrize(
    "text",
    [
        '__version__ = "1.2.3.4"',
        '__version__ = "12.0.3.15"',
        "Version: 12.0.3.15",
        'setup(version="12.0.3.15")',
        '{"version": "12.0.3.15"}',
        "typing_extensions >= 12.0.3.15",
        "see RFC 5849 section 3.4.1.2 and § 12.3.1.13",
        "HTML5 spec 8.1.2.2, resolvers 1.1.1.1 and 8.8.8.8",  # four one-digit numbers: numbering (or a public service)
        'COMMON_NAME = ObjectIdentifier("2.5.4.3")',
    ],
)
def test_version_strings_and_numbering_are_kept(text: str) -> None:
    assert redact(text, DEFAULT) == (text, PiiCounts())


def test_a_dotted_quad_elsewhere_is_an_address() -> None:
    assert marked("connect to 12.0.3.15 now") == "connect to <IP> now"
    assert marked("admin@203.0.114.7") == "admin@<IP>"  # not an e-mail (no TLD), but a public address


# --- phone numbers ----------------------------------------------------------------------------------------------

PHONES = "Call +1 (202) 555-0173, +44 20 7946 0958, +49 (0)30 1234567, +14155552671, (202) 555-0199 or 202.555.0142."


def test_phone_numbers_are_off_by_default() -> None:
    assert redact(PHONES, DEFAULT) == (PHONES, PiiCounts())


def test_phone_numbers_when_enabled() -> None:
    out, counts = redact(PHONES, DEFAULT.model_copy(update={"phone_numbers": True}))
    a, b = DEFAULT_PHONE_REPLACEMENT
    assert out == f"Call {a}, {b}, {a}, {b}, {a} or {b}."
    assert counts == PiiCounts(phone_numbers=6)


@pytest.mark.parametrize(
    "text",
    [
        "date 2023-10-12, ISBN 978-3-16-148410-0, id 123456789, 1234-5678",
        "format(1.0, '+f') == '+1.000000'; a = +4294967296; t = '+000000120'",
        "version 1.202.555.0173 and 123-456-7890",  # inside a longer number; no area code starts with 0 or 1
    ],
)
def test_numbers_that_are_not_phones(text: str) -> None:
    assert marked(text, phone_numbers=True) == text


# --- configuration ----------------------------------------------------------------------------------------------


def test_disabled_returns_the_text_untouched() -> None:
    text = "john@example.com 203.0.114.7 +44 20 7946 0958"
    assert redact(text, PiiConfig(enabled=False, phone_numbers=True)) == (text, PiiCounts())


def test_each_kind_has_its_switch() -> None:
    text = "john@example.com 203.0.114.7 +44 20 7946 0958"
    assert marked(text, emails=False) == "john@example.com <IP> +44 20 7946 0958"
    assert marked(text, ip_addresses=False) == "<EMAIL> 203.0.114.7 +44 20 7946 0958"
    assert marked(text, phone_numbers=True) == "<EMAIL> <IP> <PHONE>"


def test_config_is_strict() -> None:
    with pytest.raises(pydantic.ValidationError):
        PiiConfig(remove_emails=True)  # type: ignore[call-arg]
    with pytest.raises(pydantic.ValidationError):
        PiiConfig(email_replacement=())
    assert PiiConfig(ip_replacement="0.0.0.0").ip_replacement == ("0.0.0.0",)
    assert PiiConfig.model_validate({"email_replacement": ["a@example.com", "b@example.com"]}).email_replacement == (
        "a@example.com",
        "b@example.com",
    )


def test_same_text_redacts_the_same_way_every_time() -> None:
    text = "a@example.com b@example.com 203.0.114.7 203.0.114.8"
    assert redact(text, DEFAULT) == redact(text, DEFAULT)


# --- real code on this machine ------------------------------------------------------------------------------------

STDLIB = Path(sysconfig.get_paths()["stdlib"])
EMAIL_SIG = {"email-sig@python.org"}
# What each module holds that is an address, read on CPython 3.11's sources: authors' and examples' e-mails, and one
# public IPv4 in socket.py's docstring. Everything else in them (decorators, `::`, `1.0.0.127.in-addr.arpa`,
# `192.0.2.1`, `@property`, `a[::2]`) must come out byte for byte.
EXPECTED = {
    "ipaddress.py": set(),
    "functools.py": set(),
    "dataclasses.py": set(),
    "socket.py": {"123.45.67.89"},
    "poplib.py": {"david_ascher@brown.edu", "piers@cs.su.oz.au", "urtubia@mrbook.org"},
    "imaplib.py": {
        "Tino.Lange@isg.de",
        "anthony@interlink.com.au",
        "az@kreativkombinat.de",
        "donn@u.washington.edu",
        "holbert.13@osu.edu",
        "piers@cs.su.oz.au",
        "skitta@abo.fi",
    },
    "smtplib.py": {
        "Me@my.org",
        "c.evans@clear.net.nz",
        "dragondm@integral.org",
        "esr@thyrsus.com",
        "four@four.org",
        "gerhard@bigfoot.de",
        "me@my.org",
        "one@one.org",
        "sendmail-bugs@sendmail.org",
        "somebody@here.my.org",
        "three@three.org",
        "two@two.org",
    },
    "email/utils.py": EMAIL_SIG | {"142480216486.20800.16526388040877946887@nightshade.la.mastaler.com"},
}
EMAIL_QUIET = ["_header_value_parser", "headerregistry", "policy", "_policybase", "contentmanager", "_encoded_words"]
EMAIL_SIGNED = ["__init__", "_parseaddr", "base64mime", "charset", "encoders", "errors", "feedparser", "generator"]
EMAIL_SIGNED += ["header", "iterators", "message", "parser", "quoprimime"]
EMAIL_SIGNED += [f"mime/{n}" for n in ("application", "audio", "base", "image", "message", "multipart", "text")]
EMAIL_SIGNED += ["mime/nonmultipart"]
EXPECTED |= {f"email/{name}.py": set() for name in EMAIL_QUIET}
EXPECTED |= {f"email/{name}.py": EMAIL_SIG for name in EMAIL_SIGNED}


@pytest.mark.skipif(sys.version_info[:2] != (3, 11), reason="the expected sets were read on CPython 3.11's sources")
@pytest.mark.parametrize("module", sorted(EXPECTED))
def test_real_stdlib_code_loses_only_its_addresses(module: str) -> None:
    path = STDLIB / module
    if not path.is_file():
        pytest.skip(f"{path} is not on this machine")
    text = path.read_text(encoding="utf-8")
    out, counts = redact(text, MARKED)
    expected = EXPECTED[module]
    if not expected:
        assert out == text and counts == PiiCounts()
        return
    # Exactly the expected addresses were replaced, and nothing else changed.
    pattern = re.compile("|".join(re.escape(a) for a in sorted(expected, key=len, reverse=True)))
    found = set(pattern.findall(text))
    assert found == expected
    hand_redacted = pattern.sub(lambda m: "<EMAIL>" if "@" in m.group(0) else "<IP>", text)
    assert out == hand_redacted
    assert counts.total == len(pattern.findall(text))
    assert counts.phone_numbers == 0


def test_decorators_and_scopes_survive_in_real_code() -> None:
    path = STDLIB / "ipaddress.py"
    if not path.is_file():
        pytest.skip(f"{path} is not on this machine")
    text = path.read_text(encoding="utf-8")
    assert "@property" in text and "::" in text and "1.0.0.127.in-addr.arpa" in text
    assert redact(text, PiiConfig(phone_numbers=True)) == (text, PiiCounts())
