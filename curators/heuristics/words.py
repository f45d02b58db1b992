"""Words as spaCy's English tokenizer makes them, in pure Python, and datatrove's punctuation sets.

datatrove's filters count words with `spacy.blank("en")`: text cut at whitespace into chunks, each chunk split
by spaCy's English prefix, suffix and infix rules and its exceptions ("don't" -> "do", "n't"; "e.g." whole).
This is a port of that algorithm (spaCy 3.8.18, MIT licence: tokenizer.pyx `_split_affixes`, `_attach_tokens`,
`_apply_special_cases`; lang/punctuation.py, lang/char_classes.py, lang/en/*) with the same rule lists. Only
the character classes are approximated: for spaCy's letters of chosen scripts and its "other symbol" code
points we take Python's cased letters of the Basic Multilingual Plane plus spaCy's ranges of uncased scripts,
and the So category; they differ on rare letters (Armenian, Georgian, ...).
Speed comes from a cache, as in spaCy: a chunk seen before costs one dict look-up.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from itertools import chain, pairwise

__all__ = ["PUNCTUATION", "TERMINAL_PUNCTUATION", "chunk_tokens", "split_words", "tokenize_chunk"]

# ----------------------------------------------------------------------------------- spaCy's rule lists


def _items(spaced: str) -> list[str]:
    """spaCy's notation for its lists: items separated by spaces (its `split_chars`)."""
    return spaced.split()


_PUNCT = _items("… …… , : ; ! ? ¿ ؟ ¡ ( ) [ ] { } < > _ # * & 。 ？ ！ ， 、 ； ： ～ · । ، ۔ ؛ ٪")
_QUOTES = _items("' \" ” “ ` ‘ ´ ’ ‚ , „ » « 「 」 『 』 （ ） 〔 〕 【 】 《 》 〈 〉 ⟦ ⟧")
_CURRENCY = _items("$ £ € ¥ ฿ US$ C$ A$ ₽ ﷼ ₴ ₠ ₡ ₢ ₣ ₤ ₥ ₦ ₧ ₨ ₩ ₪ ₫ ₭ ₮ ₯ ₰ ₱ ₲ ₳ ₵ ₶ ₷ ₸ ₹ ₺ ₻ ₼ ₾ ₿")
# Verbatim, including spaCy's missing space in "тбكم".
_UNITS = _items(
    "km km² km³ m m² m³ dm dm² dm³ cm cm² cm³ mm mm² mm³ ha µm nm yd in ft "
    "kg g mg µg t lb oz m/s km/h kmh mph hPa Pa mbar mb MB kb KB gb GB tb "
    "TB T G M K % км км² км³ м м² м³ дм дм² дм³ см см² см³ мм мм² мм³ нм "
    "кг г мг м/с км/ч кПа Па мбар Кб КБ кб Мб МБ мб Гб ГБ гб Тб ТБ тб"
    "كم كم² كم³ م م² م³ سم سم² سم³ مم مم² مم³ كم غرام جرام جم كغ ملغ كوب اكواب"
)
_HYPHENS = "-|–|—|--|---|——|~"  # a regex alternation, in spaCy's order
_CONCAT_QUOTES = "".join(_QUOTES)

# Tokenizer exceptions of spacy.blank("en") (`nlp.tokenizer.rules`), whitespace ones left out: one per
# entry, its tokens joined by "~" (a character no exception contains); the exception is their concatenation.
# The times ("10am" -> "10", "am") and the "’" twins of the "'" ones are added below.
_SPECIAL_TABLE = r"""
' '' 'Cause 'Cos 'Coz 'Cuz 'S 'bout 'cause 'cos 'coz 'cuz 'd 'em 'll 'nuff 're 's (*_*) (-8 (-: (-; (-_-) (._.) (:
(; (= (>_<) (^_^) (o: (¬_¬) (ಠ_ಠ) (╯°□°）╯︵┻━┻ )-: ): -_- -__- ._. 0.0 0.o 0_0 0_o 8) 8-) 8-D 8D :'( :') :'-( :'-)
:( :(( :((( :() :) :)) :))) :* :-( :-(( :-((( :-) :-)) :-))) :-* :-/ :-0 :-3 :-> :-D :-O :-P :-X :-] :-o :-p :-x
:-| :-} :/ :0 :1 :3 :> :D :O :P :X :] :o :o) :p :x :| :} ;) ;-) ;-D ;D ;_; <.< </3 <3 <33 <333 <space> =( =) =/ =3
=D =[ =] =| >.< >.> >:( >:o ><(((*> @_@ Adm. Ai~n't Ai~nt Ak. Ala. Apr. Are~n't Are~nt Ariz. Ark. Aug. Bros.
C'm~on C++ Calif. Ca~n't Ca~n't~'ve Can~not Ca~nt Ca~nt~ve Co. Colo. Conn. Corp. Could~'ve Could~n't Could~n't~'ve
Could~nt Could~nt~ve Could~ve D.C. Dare~n't Dare~nt Dec. Del. Did~n't Did~n't~'ve Did~nt Did~nt~ve Does~n't
Does~n't~'ve Does~nt Does~nt~ve Doin Doin' Do~n't Do~n't~'ve Do~nt Do~nt~ve Dr. E.G. E.g. Feb. Fla. Ga. Gen. Goin
Goin' Gon~na Got~ta Gov. Had~n't Had~n't~'ve Had~nt Had~nt~ve Has~n't Has~nt Have~n't Have~nt Havin Havin' He~'d
He~'d~'ve He~'ll He~'ll~'ve He~'s He~d He~d~ve He~ll~ve He~s How~'d How~'d~'ve How~'d~'y How~'ll How~'ll~'ve
How~'re How~'s How~'ve How~d How~d~ve How~ll How~ll~ve How~re How~s How~ve I~'d I~'d~'ve I~'ll I~'ll~'ve I~'m
I~'m~a I~'ve I.E. I.e. Ia. I~d Id. I~d~ve Ill. I~ll~ve I~m I~m~a Inc. Ind. Is~n't Is~nt It~'d It~'d~'ve It~'ll
It~'ll~'ve It~'s It~d It~d~ve It~ll It~ll~ve I~ve Jan. Jr. Jul. Jun. Kan. Kans. Ky. La. Let~'s Lovin Lovin' Ltd.
Ma'am Mar. Mass. May~n't May~n't~'ve May~nt May~nt~ve Md. Messrs. Mich. Might~'ve Might~n't Might~n't~'ve Might~nt
Might~nt~ve Might~ve Minn. Miss. Mo. Mont. Mr. Mrs. Ms. Mt. Must~'ve Must~n't Must~n't~'ve Must~nt Must~nt~ve
Must~ve N.C. N.D. N.H. N.J. N.M. N.Y. Neb. Nebr. Need~n't Need~n't~'ve Need~nt Need~nt~ve Nev. Not~'ve Nothin
Nothin' Not~ve Nov. Nuthin Nuthin' O'clock O.O O.o O_O O_o Oct. Okla. Ol Ol' Ore. Ought~n't Ought~n't~'ve Ought~nt
Ought~nt~ve Pa. Ph.D. Prof. Rep. Rev. S.C. Sen. Sep. Sept. Sha~n't Sha~n't~'ve Sha~nt Sha~nt~ve She~'d She~'d~'ve
She~'ll She~'ll~'ve She~'s She~d~ve She~ll~ve She~s Should~'ve Should~n't Should~n't~'ve Should~nt Should~nt~ve
Should~ve Somethin Somethin' St. Tenn. That~'d That~'d~'ve That~'ll That~'ll~'ve That~'s That~d That~d~ve That~ll
That~ll~ve That~s There~'d There~'d~'ve There~'ll There~'ll~'ve There~'re There~'s There~'ve There~d There~d~ve
There~ll There~ll~ve There~re There~s There~ve These~'d These~'d~'ve These~'ll These~'ll~'ve These~'re These~'ve
These~d These~d~ve These~ll These~ll~ve These~re These~ve They~'d They~'d~'ve They~'ll They~'ll~'ve They~'re
They~'ve They~d They~d~ve They~ll They~ll~ve They~re They~ve This~'d This~'d~'ve This~'ll This~'ll~'ve This~'s
This~d This~d~ve This~ll This~ll~ve This~s Those~'d Those~'d~'ve Those~'ll Those~'ll~'ve Those~'re Those~'ve
Those~d Those~d~ve Those~ll Those~ll~ve Those~re Those~ve V.V V_V Va. Wash. Was~n't Was~nt We~'d We~'d~'ve We~'ll
We~'ll~'ve We~'re We~'ve We~d We~d~ve We~ll~ve Were~n't Were~nt We~ve What~'d What~'d~'ve What~'ll What~'ll~'ve
What~'re What~'s What~'ve What~d What~d~ve What~ll What~ll~ve What~re What~s What~ve When~'d When~'d~'ve When~'ll
When~'ll~'ve When~'re When~'s When~'ve When~d When~d~ve When~ll When~ll~ve When~re When~s When~ve Where~'d
Where~'d~'ve Where~'ll Where~'ll~'ve Where~'re Where~'s Where~'ve Where~d Where~d~ve Where~ll Where~ll~ve Where~re
Where~s Where~ve Who~'d Who~'d~'ve Who~'ll Who~'ll~'ve Who~'re Who~'s Who~'ve Who~d Who~d~ve Who~ll Who~ll~ve
Who~s Who~ve Why~'d Why~'d~'ve Why~'ll Why~'ll~'ve Why~'re Why~'s Why~'ve Why~d Why~d~ve Why~ll Why~ll~ve Why~re
Why~s Why~ve Wis. Wo~n't Wo~n't~'ve Wo~nt Wo~nt~ve Would~'ve Would~n't Would~n't~'ve Would~nt Would~nt~ve Would~ve
XD XDD You~'d You~'d~'ve You~'ll You~'ll~'ve You~'re You~'ve You~d You~d~ve You~ll You~ll~ve You~re You~ve [-: [:
[= \") \n \t ]= ^_^ ^__^ ^___^ a. a.m. ai~n't ai~nt and/or are~n't are~nt b. c'm~on c. ca~n't ca~n't~'ve can~not
ca~nt ca~nt~ve co. could~'ve could~n't could~n't~'ve could~nt could~nt~ve could~ve d. dare~n't dare~nt did~n't
did~n't~'ve did~nt did~nt~ve does~n't does~n't~'ve does~nt does~nt~ve doin doin' do~n't do~n't~'ve do~nt do~nt~ve
e. e.g. em f. g. goin goin' gon~na got~ta h. had~n't had~n't~'ve had~nt had~nt~ve has~n't has~nt have~n't have~nt
havin havin' he~'d he~'d~'ve he~'ll he~'ll~'ve he~'s he~d he~d~ve he~ll~ve he~s how~'d how~'d~'ve how~'d~'y
how~'ll how~'ll~'ve how~'re how~'s how~'ve how~d how~d~ve how~ll how~ll~ve how~re how~s how~ve i~'d i~'d~'ve i~'ll
i~'ll~'ve i~'m i~'m~a i~'ve i. i.e. i~d i~d~ve i~ll~ve i~m i~m~a is~n't is~nt it~'d it~'d~'ve it~'ll it~'ll~'ve
it~'s it~d it~d~ve it~ll it~ll~ve i~ve j. k. l. let~'s ll lovin lovin' m. ma'am may~n't may~n't~'ve may~nt
may~nt~ve might~'ve might~n't might~n't~'ve might~nt might~nt~ve might~ve must~'ve must~n't must~n't~'ve must~nt
must~nt~ve must~ve n. need~n't need~n't~'ve need~nt need~nt~ve not~'ve nothin nothin' not~ve nuff nuthin nuthin'
o'clock o. o.0 o.O o.o o_0 o_O o_o ol ol' ought~n't ought~n't~'ve ought~nt ought~nt~ve p. p.m. q. r. s. sha~n't
sha~n't~'ve sha~nt sha~nt~ve she~'d she~'d~'ve she~'ll she~'ll~'ve she~'s she~d~ve she~ll~ve she~s should~'ve
should~n't should~n't~'ve should~nt should~nt~ve should~ve somethin somethin' t. that~'d that~'d~'ve that~'ll
that~'ll~'ve that~'s that~d that~d~ve that~ll that~ll~ve that~s there~'d there~'d~'ve there~'ll there~'ll~'ve
there~'re there~'s there~'ve there~d there~d~ve there~ll there~ll~ve there~re there~s there~ve these~'d
these~'d~'ve these~'ll these~'ll~'ve these~'re these~'ve these~d these~d~ve these~ll these~ll~ve these~re these~ve
they~'d they~'d~'ve they~'ll they~'ll~'ve they~'re they~'ve they~d they~d~ve they~ll they~ll~ve they~re they~ve
this~'d this~'d~'ve this~'ll this~'ll~'ve this~'s this~d this~d~ve this~ll this~ll~ve this~s those~'d those~'d~'ve
those~'ll those~'ll~'ve those~'re those~'ve those~d those~d~ve those~ll those~ll~ve those~re those~ve u. v. v.s.
v.v v_v vs. w. w/o was~n't was~nt we~'d we~'d~'ve we~'ll we~'ll~'ve we~'re we~'ve we~d we~d~ve we~ll~ve were~n't
were~nt we~ve what~'d what~'d~'ve what~'ll what~'ll~'ve what~'re what~'s what~'ve what~d what~d~ve what~ll
what~ll~ve what~re what~s what~ve when~'d when~'d~'ve when~'ll when~'ll~'ve when~'re when~'s when~'ve when~d
when~d~ve when~ll when~ll~ve when~re when~s when~ve where~'d where~'d~'ve where~'ll where~'ll~'ve where~'re
where~'s where~'ve where~d where~d~ve where~ll where~ll~ve where~re where~s where~ve who~'d who~'d~'ve who~'ll
who~'ll~'ve who~'re who~'s who~'ve who~d who~d~ve who~ll who~ll~ve who~s who~ve why~'d why~'d~'ve why~'ll
why~'ll~'ve why~'re why~'s why~'ve why~d why~d~ve why~ll why~ll~ve why~re why~s why~ve wo~n't wo~n't~'ve wo~nt
wo~nt~ve would~'ve would~n't would~n't~'ve would~nt would~nt~ve would~ve x. xD xDD y'~all y. y~all you~'d
you~'d~'ve you~'ll you~'ll~'ve you~'re you~'ve you~d you~d~ve you~ll you~ll~ve you~re you~ve z. ¯\(ツ)/¯ °~C~.
°~F~. °~K~. °~c~. °~f~. °~k~. ä. ö. ü. ಠ_ಠ ಠ︵ಠ — ‘S ‘s
"""
_SPECIALS: dict[str, tuple[str, ...]] = {
    "".join(parts): tuple(parts) for parts in (entry.split("~") for entry in _SPECIAL_TABLE.split())
}
_SPECIALS.update({f"{h}{m}": (str(h), m) for h in range(1, 13) for m in ("a.m.", "am", "p.m.", "pm")})
_SPECIALS.update(  # every exception with "'" has a twin with "’"
    {k.replace("'", "’"): tuple(t.replace("'", "’") for t in v) for k, v in _SPECIALS.items() if "'" in k}
)


# datatrove/utils/text.py: TERMINAL_PUNCTUATION and PUNCTUATION (with the C0/C1 control characters but tab and
# newline).
TERMINAL_PUNCTUATION = frozenset(
    "!.?\u0589\u061d\u061e\u061f\u06d4\u0700\u0701\u0702\u07f9\u0837\u0839\u083d\u083e\u0964\u0965\u104a\u104b"
    "\u1362\u1367\u1368\u166e\u1735\u1736\u17d4\u17d5\u17d6\u17d9\u17da\u1803\u1809\u1944\u1945\u1aa8\u1aa9"
    "\u1aaa\u1aab\u1b5a\u1b5b\u1b5e\u1b5f\u1b7d\u1b7e\u1c3b\u1c3c\u1c7e\u1c7f\u203c\u203d\u2047\u2048\u2049"
    "\u2e2e\u2e3c\u2e53\u2e54\u3002\ua4ff\ua60e\ua60f\ua6f3\ua6f7\ua876\ua877\ua8ce\ua8cf\ua92f\ua9c8\ua9c9"
    "\uaa5d\uaa5e\uaa5f\uaaf0\uaaf1\uabeb\ufe52\ufe56\ufe57\uff01\uff0e\uff1f\uff61\U00010a56\U00010a57"
    "\U00010f55\U00010f56\U00010f57\U00010f58\U00010f59\U00010f86\U00010f87\U00010f88\U00010f89\U00011047"
    "\U00011048\U000110be\U000110bf\U000110c0\U000110c1\U00011141\U00011142\U00011143\U000111c5\U000111c6"
    "\U000111cd\U000111de\U000111df\U00011238\U00011239\U0001123b\U0001123c\U000112a9\U0001144b\U0001144c"
    "\U000115c2\U000115c3\U000115c9\U000115ca\U000115cb\U000115cc\U000115cd\U000115ce\U000115cf\U000115d0"
    "\U000115d1\U000115d2\U000115d3\U000115d4\U000115d5\U000115d6\U000115d7\U00011641\U00011642\U0001173c"
    "\U0001173d\U0001173e\U00011944\U00011946\U00011a42\U00011a43\U00011a9b\U00011a9c\U00011c41\U00011c42"
    "\U00011ef7\U00011ef8\U00011f43\U00011f44\U00016a6e\U00016a6f\U00016af5\U00016b37\U00016b38\U00016b44"
    "\U00016e98\U0001bc9f\U0001da88"
)
PUNCTUATION = (
    frozenset(
        "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~\u00ab\u00b4\u00bb\u2013\u2014\u2019\u201c\u201d\u201e\u2026\u2236"
        "\u2501\u25ba\u3001\u3002\u3008\u3009\u300a\u300b\u300c\u300d\u3010\u3011\uff01\uff05\uff08\uff09\uff0c"
        "\uff0e\uff11\uff1a\uff1b\uff1f\uff5e"
    )
    | frozenset(chr(i) for i in (*range(0, 9), *range(11, 32), *range(127, 160)))
    | TERMINAL_PUNCTUATION
)


# ------------------------------------------------------------------------------- character classes


def _ranges(chars: list[int]) -> str:
    """A regex character-class body for these code points, as ranges."""
    out: list[str] = []
    i = 0
    while i < len(chars):
        j = i
        while j + 1 < len(chars) and chars[j + 1] == chars[j] + 1:
            j += 1
        out.append(re.escape(chr(chars[i])) if i == j else f"{re.escape(chr(chars[i]))}-{re.escape(chr(chars[j]))}")
        i = j + 1
    return "".join(out)


# spaCy's letters of uncased scripts (char_classes._uncased: Ethiopic, Bengali, Hebrew, Arabic/Persian,
# Sinhala, Devanagari, Kannada, Tamil, Telugu, Hangul, Kana, CJK), which count as both lower and upper case.
# It includes CJK punctuation (U+3000-U+303F), which Python does not count as letters.
_UNCASED = (
    r"\u1200-\u137F\u0980-\u09FF\u0591-\u05F4\uFB1D-\uFB4F\u0620-\u064A\u066E-\u06D5\u06E5-\u06FF\u0750-\u077F"
    r"\u08A0-\u08BD\uFB50-\uFBB1\uFBD3-\uFD3D\uFD50-\uFDC7\uFDF0-\uFDFB\uFE70-\uFEFC\U0001EE00-\U0001EEBB"
    r"\u0D80-\u0DFF\u0900-\u097F\u0C80-\u0CFF\u0B80-\u0BFF\u0C00-\u0C7F\uAC00-\uD7AF\u1100-\u11FF\u3040-\u309F"
    r"\u30A0-\u30FF\u30FC\u4E00-\u9FFF\u3400-\u4DBF\U00020000-\U0002EBEF\u2E80-\u2EFF\u2F00-\u2FDF\u2FF0-\u2FFF"
    r"\u3000-\u303F\u31C0-\u31EF\u3200-\u32FF\u3300-\u33FF\uF900-\uFAFF\uFE30-\uFE4F\U0001F200-\U0001F2FF"
    r"\U0002F800-\U0002FA1F"
)


def _char_test(ascii_test: Callable[[str], bool], body: str) -> Callable[[str], bool]:
    """Whether a character is in the class `[body]` (`ascii_test` decides for ASCII, which is quicker)."""
    match = re.compile(f"[{body}]").match
    return lambda c: ascii_test(c) if c < "\x80" else match(c) is not None


class _Rules:
    """spaCy's English affix rules (built once, on first use). The infix regex is evaluated by hand, at the
    characters an infix can start with, with the same alternatives in the same order."""

    def __init__(self) -> None:
        # spaCy's ALPHA_LOWER / ALPHA_UPPER / ALPHA: the cased letters of Latin, Cyrillic and Greek (here:
        # every cased letter of the Basic Multilingual Plane), plus the uncased scripts.
        bmp = [chr(i) for i in range(0x10000)]
        lower = _ranges([ord(c) for c in bmp if c.islower()]) + _UNCASED
        upper = _ranges([ord(c) for c in bmp if c.isupper()]) + _UNCASED
        alpha = _ranges([ord(c) for c in bmp if c.islower() or c.isupper()]) + _UNCASED
        self.is_lower, self.is_upper = _char_test(str.islower, lower), _char_test(str.isupper, upper)
        self.is_alpha = _char_test(str.isalpha, alpha)
        self.icons = frozenset(chr(i) for i in range(0x20000) if unicodedata.category(chr(i)) == "So")
        # Prefixes: single characters, plus the multi-character ones handled in prefix_len().
        self.prefix_chars = (
            frozenset(["§", "%", "=", "—", "–"] + [p for p in _PUNCT if len(p) == 1] + _QUOTES + ["…"])
            | frozenset(c for c in _CURRENCY if len(c) == 1)
            | self.icons
        )
        # Suffixes: single characters, then the conditional ones handled in suffix_len().
        self.suffix_chars = frozenset([p for p in _PUNCT if len(p) == 1] + _QUOTES + ["…", "—", "–"]) | self.icons
        self.units = frozenset(_CURRENCY + _UNITS)
        # `(?<=[0-9{al}{e}{p}(?:{q})])\.` : the characters after which a final "." is split off. `p` is
        # spaCy's PUNCT alternation ("…|……|,|:|..."), so "|" and the characters of "(?:" are in the class.
        self.dot_after = frozenset("0123456789%²-+|(?:)" + "".join(_PUNCT) + _CONCAT_QUOTES)
        self.quotes = frozenset(_CONCAT_QUOTES)
        # Every infix alternative starts with one of these characters.
        self.infix_chars = frozenset(".…+-*^,–—~:<>=/") | self.icons
        # spacy/lang/tokenizer_exceptions.py URL_PATTERN, with our ALPHA_LOWER.
        self.url = re.compile(
            r"(?u)^(?:(?:[\w\+\-\.]{2,})://)?(?:\S+(?::\S*)?@)?(?:(?!(?:10|127)(?:\.\d{1,3}){3})"
            r"(?!(?:169\.254|192\.168)(?:\.\d{1,3}){2})(?!172\.(?:1[6-9]|2\d|3[0-1])(?:\.\d{1,3}){2})"
            r"(?:[1-9]\d?|1\d\d|2[01]\d|22[0-3])(?:\.(?:1?\d{1,2}|2[0-4]\d|25[0-5])){2}"
            r"(?:\.(?:[1-9]\d?|1\d\d|2[0-4]\d|25[0-4]))|(?:(?:[A-Za-z0-9\u00a1-\uffff]"
            r"[A-Za-z0-9\u00a1-\uffff_-]{0,62})?[A-Za-z0-9\u00a1-\uffff]\.)+"
            rf"(?:[{lower}]{{2,63}}))(?::\d{{2,5}})?(?:[/?#]\S*)?$"
        ).match
        # The special-case pass: exceptions whose affix-only tokenization splits them, keyed by those tokens.
        self.special_patterns: dict[tuple[str, ...], str] = {}
        for orth in _SPECIALS:
            if self.prefix_len(orth) or self.suffix_len(orth) or self.infix_spans(orth):
                self.special_patterns[tuple(self.tokenize(orth, specials=False))] = orth
        self.pattern_lengths = sorted({len(p) for p in self.special_patterns}, reverse=True)
        self.pattern_pairs = frozenset(p[:2] for p in self.special_patterns if len(p) > 1)  # one-token ones: no-ops
        # The quick path of `split`: leading prefix characters, a core, trailing suffix characters.
        self.lead = "".join(sorted(self.prefix_chars - self.icons))
        self.trail = "".join(sorted(self.suffix_chars - self.icons - {"…"}))
        self.special_cores = frozenset(orth.lstrip(self.lead).rstrip(self.trail) for orth in _SPECIALS)

    def prefix_len(self, s: str) -> int:
        """Length of spaCy's prefix match at the start of `s` (0 if none)."""
        c = s[0]
        if c == "+":  # r"\+(?![0-9])" comes first in spaCy's list
            return 0 if s[1:2] and s[1:2] in "0123456789" else 1
        if c in self.prefix_chars:
            return 1
        if c == ".":
            n = len(s) - len(s.lstrip("."))
            return n if n >= 2 else 0
        if s.startswith("US$"):
            return 3
        if s.startswith(("C$", "A$")):
            return 2
        return 0

    def suffix_len(self, s: str) -> int:
        """Length of spaCy's suffix match at the end of `s` (0 if none). All suffix patterns end at `$`, so
        the leftmost match (what `re.search` returns) is the longest."""
        last = s[-1]
        n = len(s)
        if last in self.suffix_chars:  # no longer alternative ends with one of these, but "……"
            return 2 if s.endswith("……") else 1
        if last == ".":
            dots = n - len(s.rstrip("."))
            if dots >= 2:
                return dots
            if n >= 2:
                prev = s[-2]
                if (
                    prev in self.dot_after
                    or self.is_lower(prev)
                    or (n >= 3 and s[-3] == "°" and prev in "FfCcKk")
                    or (n >= 3 and self.is_upper(prev) and self.is_upper(s[-3]))
                ):
                    return 1
            return 0
        if last == "+":
            return 1 if n >= 2 and s[-2] in "0123456789" else 0
        # r"(?<=[0-9])(?:{currency})" and r"(?<=[0-9])(?:{units})": no unit holds a digit, so only what
        # follows the last digit can be one (and then "'s" cannot match).
        unit = _AFTER_LAST_DIGIT(s)
        if unit is not None and unit.group(1) in self.units:
            return len(unit.group(1))
        return 2 if last in "sS" and n >= 2 and s[-2] in "'’" else 0

    def infix_end(self, s: str, i: int) -> int:
        r"""Where spaCy's infix regex matches at position i of s (its end), or 0. Alternatives, in order:
        r"\.\.+", "…", ICONS, r"(?<=[0-9])[+\-\*^](?=[0-9-])", r"(?<=[{al}{q}])\.(?=[{au}{q}])",
        r"(?<=[{a}]),(?=[{a}])", r"(?<=[{a}0-9])(?:{hyphens})(?=[{a}])", r"(?<=[{a}0-9])[:<>=/](?=[{a}])"."""
        c = s[i]
        n = len(s)
        prev = s[i - 1] if i else ""
        after = s[i + 1] if i + 1 < n else ""
        if c == ".":
            if after == ".":
                end = i + 2
                while end < n and s[end] == ".":
                    end += 1
                return end
            if (
                prev
                and after
                and (self.is_lower(prev) or prev in self.quotes)
                and (self.is_upper(after) or after in self.quotes)
            ):
                return i + 1
            return 0
        if c == "…" or c in self.icons:
            return i + 1
        if c in "+-*^" and prev and prev in "0123456789" and after and after in "0123456789-":
            return i + 1
        if not prev or not after:
            return 0
        if c == ",":
            return i + 1 if self.is_alpha(prev) and self.is_alpha(after) else 0
        if not (prev in "0123456789" or self.is_alpha(prev)):
            return 0
        if c in "-–—~":
            for hyphen in ("-", "–", "—", "--", "---", "——", "~"):
                end = i + len(hyphen)
                if s.startswith(hyphen, i) and end < n and self.is_alpha(s[end]):
                    return end
            return 0
        if c in ":<>=/":
            return i + 1 if self.is_alpha(after) else 0
        return 0

    def infix_spans(self, s: str) -> list[tuple[int, int]]:
        """The matches of spaCy's infix regex in s, as `re.finditer` gives them."""
        spans: list[tuple[int, int]] = []
        if s.isalnum() or self.infix_chars.isdisjoint(s):
            return spans
        triggers = self.infix_chars
        i = 0
        n = len(s)
        while i < n:
            if s[i] in triggers:
                end = self.infix_end(s, i)
                if end:
                    spans.append((i, end))
                    i = end
                    continue
            i += 1
        return spans

    def tokenize(self, chunk: str, specials: bool = True) -> list[str]:
        """spaCy's `_split_affixes` + `_attach_tokens` on one whitespace-free chunk."""
        prefixes: list[str] = []
        suffixes: list[str] = []
        s = chunk
        last_size = -1
        while s and len(s) != last_size:
            if specials and s in _SPECIALS:
                break
            last_size = len(s)
            pre = self.prefix_len(s)
            if pre:
                minus_pre = s[pre:]
                if minus_pre and specials and minus_pre in _SPECIALS:
                    prefixes.append(s[:pre])
                    s = minus_pre
                    break
            suf = self.suffix_len(s[pre:]) if len(s) > pre else 0
            if suf:
                minus_suf = s[:-suf]
                if minus_suf and specials and minus_suf in _SPECIALS:
                    suffixes.append(s[-suf:])
                    s = minus_suf
                    break
            if pre and suf and pre + suf <= len(s):
                prefixes.append(s[:pre])
                suffixes.append(s[-suf:])
                s = s[pre:-suf]
            elif pre:
                prefixes.append(s[:pre])
                s = s[pre:]
            elif suf:
                suffixes.append(s[-suf:])
                s = s[:-suf]
        tokens = prefixes
        if s:
            if specials and s in _SPECIALS:
                tokens.extend(_SPECIALS[s])
            else:
                self.attach(s, tokens)
        if suffixes:
            tokens.extend(reversed(suffixes))
        return tokens

    def attach(self, s: str, tokens: list[str]) -> None:
        """Append the tokens of s, which has no prefix, suffix or special case: s cut at its infixes (unless
        it is a URL)."""
        spans = self.infix_spans(s)
        if not spans or self.url(s):
            tokens.append(s)
            return
        start = 0
        for a, b in spans:
            if a == 0:
                continue
            if a != start:
                tokens.append(s[start:a])
            tokens.append(s[a:b])
            start = b
        if s[start:]:
            tokens.append(s[start:])

    def split(self, chunk: str) -> list[str]:
        """`tokenize` then `merge_specials`, with a quicker path for the usual chunk: characters that are
        always prefixes, a core, characters that are always suffixes. spaCy strips those one by one; when no
        string on the way is a special case (its core would be the core of one) and the core has no affix
        of its own, the tokens are those characters, the core cut at its infixes, and those characters."""
        core = chunk.lstrip(self.lead)
        start = len(chunk) - len(core)
        core = core.rstrip(self.trail)
        size = len(core)
        # A core of 1 or 2 characters is too short: a suffix rule may look behind it ("'s", "(.", "°F.").
        if size < 3 and not (size == 2 and core.isalnum()) or core in self.special_cores:
            tokens = self.tokenize(chunk)
        else:
            if _WORD(core):  # no prefix or infix; a suffix only as a unit after a digit ("10km")
                if not core[-1].isdigit() and not core.isalpha() and self.suffix_len(core):
                    return self.merge_specials(self.tokenize(chunk))
                tokens = list(chunk[:start])
                tokens.append(core)
            elif self.prefix_len(core) or self.suffix_len(core):
                return self.merge_specials(self.tokenize(chunk))
            else:
                tokens = list(chunk[:start])
                self.attach(core, tokens)
            tokens.extend(chunk[start + size :])
        return self.merge_specials(tokens) if len(tokens) > 1 else tokens

    def merge_specials(self, tokens: list[str]) -> list[str]:
        """spaCy's `_apply_special_cases` within one chunk: runs of tokens that spell an exception in its
        affix-split form are replaced by the exception's tokens (longest first, then leftmost)."""
        if self.pattern_pairs.isdisjoint(pairwise(tokens)):
            return tokens
        found = [
            (start, start + size)
            for start, pair in enumerate(pairwise(tokens))
            if pair in self.pattern_pairs
            for size in self.pattern_lengths
            if start + size <= len(tokens) and tuple(tokens[start : start + size]) in self.special_patterns
        ]
        kept: dict[int, int] = {}  # spaCy's _filter_special_spans: longest first, then leftmost
        seen: set[int] = set()
        for start, end in sorted(found, key=lambda span: (span[0] - span[1], span[0])):
            if start not in seen and end - 1 not in seen:
                kept[start] = end
            seen.update(range(start, end))
        out: list[str] = []
        i = 0
        for start in sorted(kept):
            out += tokens[i:start] + list(_SPECIALS["".join(tokens[start : kept[start]])])
            i = kept[start]
        return out + tokens[i:]


_RULES: list[_Rules] = []
_WORD = re.compile(r"\w+").fullmatch
_AFTER_LAST_DIGIT = re.compile(r"[0-9]([^0-9]{1,5})$").search


def tokenize_chunk(chunk: str) -> tuple[str, ...]:
    """The tokens of one whitespace-free chunk (not cached: see `chunk_tokens`)."""
    special = _SPECIALS.get(chunk)
    if special is not None:
        return special
    if chunk.isalpha():  # no affix or infix rule applies to letters only
        return (chunk,)
    if not _RULES:
        _RULES.append(_Rules())
    return tuple(_RULES[0].split(chunk))


class _ChunkCache(dict[str, tuple[str, ...]]):
    """chunk -> its tokens; misses are tokenized and remembered (the whole cache is dropped when full)."""

    max_size = 1 << 19

    def __missing__(self, chunk: str) -> tuple[str, ...]:
        tokens = tokenize_chunk(chunk)
        if len(self) >= self.max_size:
            self.clear()
        self[chunk] = tokens
        return tokens


_CACHE = _ChunkCache()
chunk_tokens = _CACHE.__getitem__
"""The tokens of one whitespace-free chunk (cached)."""


def split_words(text: str) -> list[str]:
    """The words of `text` as datatrove's `split_into_words(text, "en")` gives them (spaCy tokens, whitespace
    left out)."""
    return list(chain.from_iterable(map(chunk_tokens, text.split())))
