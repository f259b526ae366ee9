"""Which text encoding a CSV is in: BOMs, then UTF-8, then the Windows code pages Excel writes.

The evidence is the lines that contain non-ASCII bytes, gathered from the *whole* file (ASCII chunks
are skipped at C speed) up to 256 KB, so a lone "José" on row 90,000 is not missed.  Valid UTF-8
wins outright (legacy text is practically never valid UTF-8); if most non-ASCII lines are UTF-8 but
some are not, the file mixes encodings and the first bad line is named.  Otherwise each legacy code
page that decodes the evidence strictly is scored by plausibility, per non-ASCII character, using
the code page's own structure: cp949 likes the 2,350 common Hangul syllables of KS X 1001 and
dislikes UHC-extension syllables and Hanja; cp932 likes kana and JIS level-1 kanji and dislikes
level-2/vendor kanji; gbk likes the most frequent hanzi, tolerates the rest of GB2312 level 1 and
dislikes the GBK extension; cp1252 likes short runs of accented letters inside ASCII words and
dislikes long runs of Latin-1 symbols (what CJK bytes look like in cp1252).  Private-use and C1
control characters are penalised everywhere.  A code page is chosen only when its mean score is good
(>= 0.4 of a maximum 1) and beats the runner-up by a clear margin (0.2); otherwise the file is
refused with ``encoding-error`` naming the encodings tried.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bulkprov.errors import EncodingProblem
from bulkprov.i18n import gettext as _
from bulkprov.io.shared.guard import open_regular
from bulkprov.io.shared.sniff import CONTROL_RE, LEGACY_CODECS, decodes

CODEC_LABELS = {
    "utf-8": "UTF-8", "utf-8-sig": "UTF-8", "utf-16": "UTF-16",
    "cp949": "cp949 (Korean)", "cp932": "cp932 (Japanese Shift_JIS)",
    "gbk": "GBK (Chinese)", "cp1252": "cp1252 (Western European)",
    "utf-32": "UTF-32", "utf-32-le": "UTF-32", "utf-32-be": "UTF-32", "utf-16-le": "UTF-16", "utf-16-be": "UTF-16",
}
ENCODINGS_TRIED = "UTF-8, cp949, cp932, GBK, cp1252"
EVIDENCE_CAP = 256 * 1024
SCAN_CHUNK = 1 << 20
MIN_SCORE = 0.4
MIN_MARGIN = 0.2



@dataclass
class Evidence:
    head: bytes = b""
    lines: list[tuple[int, bytes]] = field(default_factory=list)
    complete: bool = True
    """True when every non-ASCII line of the file is in :attr:`lines`."""


def _gather_evidence(path: Path) -> Evidence:
    """The file's head and its lines containing non-ASCII bytes (with line numbers), capped."""
    ev = Evidence()
    size, lineno, carry = 0, 1, b""
    with open_regular(path) as fh:
        while True:
            chunk = fh.read(SCAN_CHUNK)
            if not ev.head:
                ev.head = chunk[:65536]
            data = carry + chunk
            cut = data.rfind(b"\n") + 1 if chunk else len(data)
            if chunk and cut == 0:
                if len(data) < 8 * SCAN_CHUNK:
                    carry = data  # a long line: read on until it ends
                    continue
                cut = len(data)  # no line end in 8 MB: this is not a spreadsheet line anyway
            part, carry = data[:cut], data[cut:]
            if not part.isascii():
                for i, line in enumerate(part.split(b"\n")):
                    if not line.isascii():
                        ev.lines.append((lineno + i, line))
                        size += len(line)
                        if size >= EVIDENCE_CAP:
                            ev.complete = False
                            return ev
            lineno += part.count(b"\n")
            if not chunk:
                return ev


def detect_encoding(path: str | Path) -> str:
    """The Python codec of a text file (see the module docstring); raise ``encoding-error``."""
    return detect(Path(path))[0]


def detect(path: Path, named: str | None = None) -> tuple[str, Evidence]:
    """(codec, evidence); a ``named`` encoding is checked to exist and used as it is."""
    ev = _gather_evidence(path)
    if named:
        try:
            codec = codecs.lookup(named).name
        except LookupError:
            raise EncodingProblem("unknown-name", path=path, encoding=named) from None
        return _byte_order(path, ev.head, codec), ev
    return _decide(path, ev), ev


# The codecs that need a byte-order mark to know the order of their bytes (Python's decoder raises a
# bare UnicodeError without one) and the marks they accept.
_NEEDS_BOM = {"utf-16": (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE),
              "utf-32": (codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)}


def _byte_order(path: Path, head: bytes, codec: str) -> str:
    """A named UTF-16 or UTF-32 without a byte-order mark: the order its zero bytes show, or a clear
    refusal when the bytes are not that encoding at all (an ASCII file named UTF-16 on the page)."""
    if codec not in _NEEDS_BOM or not head or head.startswith(_NEEDS_BOM[codec]):
        return codec
    ordered = _utf32_without_bom(head) if codec == "utf-32" else _named_utf16_order(head)
    if ordered is None:
        raise EncodingProblem("no-bom", path=path, encoding=CODEC_LABELS.get(codec, codec))
    return ordered


def _decide(path: Path, ev: Evidence) -> str:
    head = ev.head
    if head.startswith(codecs.BOM_UTF8):
        return _check_utf8(path, ev, "utf-8-sig")
    if head.startswith((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE)):
        return "utf-32"  # before UTF-16: the UTF-32 LE mark starts with the UTF-16 LE one
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    bom_less = _utf32_without_bom(head) or _utf16_without_bom(head)
    if bom_less:
        return bom_less
    if CONTROL_RE.search(head) or any(CONTROL_RE.search(line) for _number, line in ev.lines[:200]):
        raise EncodingProblem("binary", path=path)
    if not ev.lines:
        return "utf-8"
    evidence = b"\n".join(line for _number, line in ev.lines)
    if decodes(evidence, "utf-8"):
        return "utf-8"
    return _choose_legacy(path, ev, evidence)


_ZERO_WIDTH_UTF8 = tuple(ch.encode() for ch in "\u200b\u200c\u200d\u2060\ufeff")


def may_hold_zero_width(codec: str, ev: Evidence) -> bool:
    """Whether cells may carry zero-width characters, which plain ``str.strip`` keeps."""
    if codec not in ("utf-8", "utf-8-sig"):
        return codec.startswith(("utf-16", "utf-32"))  # the legacy code pages cannot encode them
    if not ev.complete:
        return True
    for number, line in ev.lines:
        if number == 1 and line.startswith(codecs.BOM_UTF8):
            line = line[3:]
        if any(z in line for z in _ZERO_WIDTH_UTF8):
            return True
    return False


def _check_utf8(path: Path, ev: Evidence, codec: str) -> str:
    for lineno, line in ev.lines:
        if not decodes(line, "utf-8"):
            raise EncodingProblem("bad-utf8", path=path, line=lineno)
    return codec


def _utf32_without_bom(head: bytes) -> str | None:
    """UTF-32 text is three zero bytes in four for ASCII, and always zero in its top byte."""
    sample = head[:4096 - 4096 % 4]
    if len(sample) < 16:
        return None
    top_le, top_be = sample[3::4], sample[0::4]
    n = len(top_le)
    if top_le.count(0) == n and sample[2::4].count(0) > 0.9 * n and sample[0::4].count(0) < 0.1 * n:
        return "utf-32-le"
    if top_be.count(0) == n and sample[1::4].count(0) > 0.9 * n and sample[3::4].count(0) < 0.1 * n:
        return "utf-32-be"
    return None


def _utf16_without_bom(head: bytes) -> str | None:
    """ASCII (commas, line ends, emails) in UTF-16 puts a zero in every other byte, on one side only."""
    sample = head[:4096 - 4096 % 2]
    if len(sample) < 8:
        return None
    even, odd = sample[0::2], sample[1::2]
    for zeros, other, codec in ((odd, even, "utf-16-le"), (even, odd, "utf-16-be")):
        if zeros.count(0) >= 0.5 * len(zeros) and other.count(0) <= 0.02 * len(other):
            cut = len(sample) - 2 if len(sample) >= 4096 else len(sample)
            if decodes(sample[:cut], codec) or len(sample) >= 4096:
                return codec
    return None


def _named_utf16_order(head: bytes) -> str | None:
    """The byte order of text the user says is UTF-16: the half with clearly more zero bytes is the high
    byte.  Laxer than detection (``_utf16_without_bom``), since the user named the encoding; still no
    order at all for a file without zero bytes, which is not UTF-16."""
    sample = head[:4096 - 4096 % 2]
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    for high, low, codec in ((odd, even, "utf-16-le"), (even, odd, "utf-16-be")):
        if high >= 0.3 * (len(sample) // 2) and high > 2 * low and decodes(sample[:len(sample) - 2], codec):
            return codec
    return None


def _choose_legacy(path: Path, ev: Evidence, evidence: bytes) -> str:
    utf8_bad = [n for n, line in ev.lines if not decodes(line, "utf-8")]
    if len(utf8_bad) * 2 <= len(ev.lines):
        # Most non-ASCII lines are valid UTF-8, which legacy text practically never is: a mixed file.
        raise EncodingProblem("mixed", path=path, line=utf8_bad[0])
    scores: dict[str, float] = {}
    for codec in LEGACY_CODECS:
        try:
            text = evidence.decode(codec)
        except UnicodeDecodeError:
            continue
        scores[codec] = _plausibility(codec, text)
    ranked = sorted(scores.items(), key=lambda kv: -kv[1])
    if ranked:
        best, top = ranked[0]
        runner = ranked[1][1] if len(ranked) > 1 else float("-inf")
        if top >= MIN_SCORE and top - runner >= MIN_MARGIN:
            return best
        if top < MIN_SCORE:
            line, sample = _worst_line(ev, best)
            raise EncodingProblem("implausible", path=path, tried=ENCODINGS_TRIED, best=CODEC_LABELS[best],
                                  sample=sample, line=line)
    raise EncodingProblem("unknown", path=path, tried=ENCODINGS_TRIED, what=_encoding_complaint(ranked))


def _worst_line(ev: Evidence, codec: str) -> tuple[int, str]:
    """The first evidence line that reads worst in ``codec``, shortened around its odd characters."""
    scored = []
    for number, line in ev.lines[:200]:
        try:
            text = line.decode(codec).strip()
        except UnicodeDecodeError:
            continue
        scored.append((_plausibility(codec, text), number, text))
    if not scored:
        return ev.lines[0][0], ""
    _score, number, text = min(scored, key=lambda t: (t[0], t[1]))
    first = next((i for i, ch in enumerate(text) if not ch.isascii()), 0)
    start = max(0, first - 20)
    return number, ("…" if start else "") + text[start:start + 50]


def _encoding_complaint(ranked: list[tuple[str, float]]) -> str:
    if ranked:
        maybe = [CODEC_LABELS[c] for c, s in ranked[:2] if s >= MIN_SCORE]
        if len(maybe) == 2:
            what = _("it could be {first} or {second}").format(first=maybe[0], second=maybe[1])
        elif maybe:
            what = _("it could be {encoding}").format(encoding=maybe[0])
        else:
            what = _("none of them gives sensible text")
    else:
        what = _("the text is not valid in any of them")
    return what


# Frequent simplified Chinese characters (everyday words, surnames, given names, places, business).
_COMMON_HANZI = frozenset(
    "的一是不了人我在有他这为之大来以个中上们到说国和地也子时道出而要于就下得可你年生自会那后能对着事其里"
    "所去行过家十用发天如然作方成者多日都三小军二无同么经法当起与好看学进种将还分此心前面又定见只主没公从"
    "知现意打开等但实长把由体政高应点月外各少今期东机本常平内身问新部重特很全文头理动力最直样及度性解正更"
    "因系加向通原门民四五六七八九百千万亿元第两已建社工关些美做资被再想表回品物果合信手女名明教位路西北南"
    "场员制手已知已经济产业务展管区市车水电话网络服计划组织总统单号码商店银行保险客户销售市场技术研发人力"
    "资源财务行政客服管理经理总监主任助理工程师产品运营支持中心集团科技信息数据系统开发测试设计省楼室层街"
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任"
    "沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔"
    "向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦俞左柳甘祝包宁尚符舒阮柯纪梅童凌"
    "毕单季裴霍涂成苗谷盛曲翁冉骆蓝路游辛靳管柴蒙鲍华喻祁蒲房滕屈饶解牟艾尤阳时穆农司卓古吉缪简车项连芦"
    "麦褚娄窦戚岑景党宫费卜冷晏席卫米柏宗瞿桂全佟应臧闵苟邬边卞姬师仇栾隋商刁沙荣巫寇桑郎甄丛仲虞敖巩佘"
    "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚华红玉梅辉鑫波斌宇浩凯健俊帆帅旭龙欣佳琳晨婷雪慧颖倩"
    "琪瑶怡萍燕玲丹晶莉洁然雨梓涵轩博航思彤诺紫嘉睿泽晓海峰亮志永春福荣祥德胜利贵宝兴旺康乐庆云飞鹏鸿远"
    "诗雅梦琦露薇瑾婧媛馨悦妍彬彦楠松竹菊兵丰建新立志国庆秋冬晴阳光月星辰雷电风霜杨柳桃杏莲荷芬芝蓉艺"
    "京沪津渝宁杭州武汉成都安苏长沙沈青岛郑连莞波厦门福无锡合肥昆贵太原烟台嘉兴通珠惠佛山东莞哈尔滨济"
    "请电子邮件地址姓名部门职位电话手机性别男女是否备注状态添加更新删除用户角色组机器人任务"
)


def _plausibility(codec: str, text: str) -> float:
    """Mean score (max 1) of the non-ASCII characters of ``text`` decoded with ``codec``."""
    if codec == "cp1252":
        return _latin_score(text)
    weigh = _CJK_WEIGHERS[codec]
    cache: dict[str, float] = {}
    total = 0.0
    count = 0
    last = len(text) - 1
    for i, ch in enumerate(text):
        if ch < "\x80":
            continue
        w = cache.get(ch)
        if w is None:
            w = cache[ch] = _common_weight(ch)
            if w is None:
                w = cache[ch] = weigh(ch, ch.encode(codec))
        # Latin letters on both sides ("Ren仔e"), or half-width katakana touching one: a Western
        # accented letter read with a CJK code page.
        before = i > 0 and text[i - 1].isascii() and text[i - 1].isalpha()
        after = i < last and text[i + 1].isascii() and text[i + 1].isalpha()
        if (before and after) or ((before or after) and "\uff61" <= ch <= "\uff9f"):
            w = -1.0
        total += w
        count += 1
    return total / count if count else 0.0


def _common_weight(ch: str) -> float | None:
    """Weights shared by the CJK code pages; None when the code page must decide."""
    o = ord(ch)
    if 0xE000 <= o <= 0xF8FF or 0x80 <= o <= 0x9F:
        return -2.0  # private use (user-defined code points) or C1 controls
    if 0x3000 <= o <= 0x3004 or 0x3008 <= o <= 0x303F or 0xFF01 <= o <= 0xFF5E or 0x2010 <= o <= 0x206F:
        return 0.0  # CJK and general punctuation, full-width ASCII: neutral
    if o == 0xB7 or o == 0xD7:
        return 0.0
    return None


def _is_ideograph(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" or "\u3400" <= ch <= "\u4dbf"


def _weigh_cp949(ch: str, b: bytes) -> float:
    if "\uac00" <= ch <= "\ud7a3":
        return 1.0 if b[0] >= 0xB0 and b[1] >= 0xA1 else -0.5  # KS X 1001 common syllable vs UHC extension
    if _is_ideograph(ch):
        return -0.5  # Hanja: rare in Korean HR data
    if "\u3131" <= ch <= "\u318e":
        return 0.0  # compatibility jamo
    return -1.0


def _weigh_cp932(ch: str, b: bytes) -> float:
    if "\u3041" <= ch <= "\u30ff" or ch == "\u3005":
        return 1.0  # hiragana, katakana, 々
    if "\uff61" <= ch <= "\uff9f":
        return 0.5  # half-width katakana: used, but also what other code pages turn into
    if _is_ideograph(ch) and len(b) == 2:
        lead, trail = b
        if 0x88 <= lead <= 0x97 or (lead == 0x98 and trail <= 0x72):
            return 1.0  # JIS level-1 kanji
        if 0x98 <= lead <= 0x9F or 0xE0 <= lead <= 0xEA:
            return -0.25  # JIS level-2 kanji
        return -0.5  # NEC / IBM vendor kanji
    return -1.0


def _weigh_gbk(ch: str, b: bytes) -> float:
    if _is_ideograph(ch) and len(b) == 2:
        if ch in _COMMON_HANZI:
            return 1.0
        lead, trail = b
        if trail >= 0xA1 and 0xB0 <= lead <= 0xD7:
            return 0.25  # GB2312 level 1
        if trail >= 0xA1 and 0xD8 <= lead <= 0xF7:
            return -0.25  # GB2312 level 2
        return -1.0  # GBK extension
    return -1.0


_CJK_WEIGHERS: dict[str, Callable[[str, bytes], float]] = {
    "cp949": _weigh_cp949, "cp932": _weigh_cp932, "gbk": _weigh_gbk,
}
_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")
_LATIN_PUNCT = frozenset("\u2018\u2019\u201a\u201c\u201d\u201e\u2013\u2014\u2026\u20ac\u2022\u00b0"
                         "\u00a3\u00a7\u00a9\u00ae\u2122\u00ab\u00bb\u00bf\u00a1\u00b7\u00a0\u00b4")


_WINDOWS_LETTERS = frozenset("\u0160\u0161\u017d\u017e\u0152\u0153\u0178\u0192")


def _latin_score(text: str) -> float:
    """cp1252 plausibility: short accented runs inside ASCII words are good, symbol soup is bad."""
    total = 0.0
    count = 0
    for m in _NON_ASCII_RUN.finditer(text):
        run = m.group(0)
        count += len(run)
        if len(run) > 3:
            total -= len(run)
            continue
        before = text[m.start() - 1] if m.start() else " "
        after = text[m.end()] if m.end() < len(text) else " "
        in_word = before.isascii() and before.isalpha() or after.isascii() and after.isalpha()
        for ch in run:
            if ch in _LATIN_PUNCT:
                total += 0.5
            elif ch in _WINDOWS_LETTERS:
                total += 0.0  # Š Ž š ž Œ œ Ÿ ƒ: rare in Western names, common in Mac Roman read as cp1252
            elif ch.isalpha() and in_word:
                total += 1.0
            else:
                total -= 1.0
    return total / count if count else 0.0

