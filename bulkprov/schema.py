"""The one source of truth for bulkprov's columns.

Every column a user can put in a spreadsheet is declared here once: its canonical name, the
header aliases that map to it, whether it is required, how its cell is parsed, its maximum
length, where it goes in the Kore.ai API payload, and the help text and example that the
template, the README and the validator messages show.  The loader matches headers with
:func:`match_header`, the validator parses with :attr:`Column.kind`, the template and the docs
are generated from :data:`COLUMNS`, and the emulator reads :data:`USER_INFO_FIELDS`.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from bulkprov.errors import N_
from bulkprov.model import Action

# Identifier formats of the Kore.ai platform (SPEC section 2).
ROLE_ID_RE = re.compile(r"^[0-9a-fA-F]{24}$")
BOT_ID_RE = re.compile(r"^st-[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
DIALOG_ID_RE = re.compile(r"^dg-[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
GROUP_ID_RE = re.compile(r"^e-[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# The shapes above are what the vendor's samples show, not a documented rule (the pages' own samples
# include st-xxx-xx-xxx-xxx-xxxx and a 25-character role id).  With strict ids off, an id that only has
# the relaxed shape below is sent as written, with a warning (JobSettings.strict_ids).
RELAXED_ID_RES = {
    "role": re.compile(r"^(?=.*\d)[0-9A-Za-z]{6,64}$"),      # a digit in it: "Administrator" stays a name
    "bot": re.compile(r"^st-[0-9A-Za-z][0-9A-Za-z-]*$"),
    "dialog": re.compile(r"^dg-[0-9A-Za-z][0-9A-Za-z-]*$"),
    "group": re.compile(r"^e-[0-9A-Za-z][0-9A-Za-z-]*$"),
}


@dataclass(frozen=True)
class IdKind:
    """How a list cell's entry names a platform object: its id's shape, the lookup sheet that maps names
    to ids, and the row codes for an id of the wrong shape and a name no sheet holds."""

    what: str                     # role, bot, group, dialog: the word messages use, the RELAXED_ID_RES key
    pattern: re.Pattern[str]
    sheet: str | None             # the lookup sheet of names (None: only ids are accepted)
    bad_id: str                   # row code: looks like an id, but is not one
    unknown: str                  # row code: a name no lookup sheet holds
    id_prefix: str = ""           # what an id of this kind starts with ("": a hex id of 12+ characters)

    def looks_like_id(self, text: str) -> bool:
        """Meant as an id (so a wrong one is ``bad_id``), rather than a name."""
        if self.id_prefix:
            return text.startswith(self.id_prefix)
        return len(text) >= 12 and all(c in "0123456789abcdefABCDEF" for c in text)


ID_KINDS: dict[str, IdKind] = {
    "role": IdKind("role", ROLE_ID_RE, "Roles", "invalid-role-id", "unknown-role"),
    "bot": IdKind("bot", BOT_ID_RE, "Bots", "invalid-bot-id", "unknown-bot", "st-"),
    "group": IdKind("group", GROUP_ID_RE, "Groups", "invalid-group-id", "unknown-group", "e-"),
    "dialog": IdKind("dialog", DIALOG_ID_RE, None, "invalid-dialog-id", "invalid-dialog-id", "dg-"),
}
# Pragmatic address check: one @, a dot in the domain, no spaces.  The server has the last word.
# No Hangul, kana or CJK ideographs (nor CJK punctuation) anywhere: in a roster from Korea or Japan
# they are an input mode left on (김@…, kim@회사.kr), not an internationalised mailbox -- Kore.ai
# documents nothing about those.  Other letters (rené@…) are sent as written.
_NOT_IN_EMAIL = r"@\s;,<>()\[\]\"\u1100-\u11ff\u3000-\u30ff\u3130-\u318f\u31f0-\u31ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff\uff61-\uff9f"
EMAIL_RE = re.compile(rf"^[^{_NOT_IN_EMAIL}]+@[^{_NOT_IN_EMAIL}]+\.[^{_NOT_IN_EMAIL}.]{{2,}}$")

# Parser kinds (see check/validator.py for what each one does with a cell).
TEXT, EMAIL, BOOL, GROUPS, ROLES, BOT_TASKS, ACTION, FULL_NAME = (
    "text", "email", "bool", "groups", "roles", "botTasks", "action", "fullName",
)

# Truthy / falsy spellings accepted in boolean cells, as :func:`normalize_word` leaves them: English,
# Korean (예/아니오) and Japanese (はい/いいえ, and the ○/× of Japanese forms).
TRUE_WORDS = frozenset({"true", "yes", "y", "1", "t", "on",
                        "예", "네", "참", "사용",
                        "はい", "有", "可", "○", "◯", "〇"})
FALSE_WORDS = frozenset({"false", "no", "n", "0", "f", "off",
                         "아니오", "아니요", "거짓", "미사용",
                         "いいえ", "無", "不可", "×", "✕"})

# The action column accepts bulkprov's words, the admin console's "User Status" words, and the words a
# Korean or Japanese HR sheet uses (추가/수정/삭제, 追加/更新/削除).
_ADD, _UPDATE, _REMOVE = Action.ADD, Action.UPDATE, Action.REMOVE
ACTIONS: dict[str, Action] = {
    "add": _ADD, "new": _ADD, "create": _ADD,
    "update": _UPDATE, "modify": _UPDATE,
    "remove": _REMOVE, "delete": _REMOVE,
    "추가": _ADD, "신규": _ADD, "등록": _ADD, "수정": _UPDATE, "변경": _UPDATE, "삭제": _REMOVE, "제거": _REMOVE,
    "追加": _ADD, "新規": _ADD, "登録": _ADD, "更新": _UPDATE, "変更": _UPDATE, "修正": _UPDATE,
    "削除": _REMOVE,
}
ACTION_CHOICES = ("add", "update", "remove")
# The words a template in each language offers in its dropdowns (the loader accepts them all).
BOOL_WORDS_IN = {"en": ("TRUE", "FALSE"), "ko": ("예", "아니오"), "ja": ("はい", "いいえ")}
ACTION_WORDS_IN = {"en": ACTION_CHOICES, "ko": ("추가", "수정", "삭제"), "ja": ("追加", "更新", "削除")}

# Separators inside list cells: semicolons or new lines (commas separate dialogs in botTasks).
LIST_SPLIT_RE = re.compile(r"[;\n\r]+")

# What a list cell means, per command: declared here once; the validator, sync's diff, the template's
# notes and the README all read it from here.
LIST_ON_ADD = N_("On add: the user gets exactly these.")
LIST_ON_UPDATE = {
    GROUPS: N_("On update: plain entries are added, -ENTRY removes that entry; entries the cell does not name "
               "are kept."),
    ROLES: N_("On update: plain entries are added, -ENTRY removes that entry; entries the cell does not name "
              "are kept."),
    BOT_TASKS: N_("On update: BOT:DIALOG,DIALOG adds those dialogs to the bot's tasks, -BOT removes all of that "
                  "bot's tasks; bots the cell does not name keep theirs."),
}
LIST_ON_SYNC = N_("In plan/sync the cell is the complete list: entries missing from it are removed.")
REMOVE_PREFIX, ADD_PREFIX = "-", "+"


def list_behaviour(kind: str, tr=lambda text: text) -> str:
    """The sentence the template, the README and messages use for a list column (``tr``: a gettext)."""
    return f"{tr(LIST_ON_ADD)} {tr(LIST_ON_UPDATE[kind])} {tr(LIST_ON_SYNC)}"


@dataclass(frozen=True)
class Column:
    """One spreadsheet column."""

    name: str
    kind: str
    help: str
    example: str
    aliases: tuple[str, ...] = ()
    api_field: str | None = None
    """Where the value goes: ``userInfo.<field>`` or a top-level user field; None for run controls."""
    max_length: int | None = None
    required: bool = False
    ko: tuple[str, ...] = ()
    """Korean headers, the way Korean HR exports name the column; the first is the template's header."""
    ja: tuple[str, ...] = ()
    """Japanese headers, likewise."""

    def header(self, lang: str = "en") -> str:
        """The header a template in ``lang`` writes (the loader reads it back)."""
        local = {"ko": self.ko, "ja": self.ja}.get(lang)
        return local[0] if local else self.name

    @property
    def in_user_info(self) -> bool:
        return bool(self.api_field and self.api_field.startswith("userInfo."))

    @property
    def is_list(self) -> bool:
        return self.kind in LIST_ON_UPDATE

    @property
    def full_help(self) -> str:
        """The help text with the list behaviour, as the template's notes and the README show it."""
        return self.help_in()

    def help_in(self, tr=lambda text: text) -> str:
        """:attr:`full_help` through ``tr`` (a gettext): the template's notes in the reader's language."""
        return f"{tr(self.help)} {list_behaviour(self.kind, tr)}" if self.is_list else tr(self.help)

    @property
    def in_template(self) -> bool:
        """Written by the template and the Users sheets (a full name is only ever read, then split)."""
        return self.kind != FULL_NAME


def _info(name: str, help: str, example: str, *aliases: str, max_length: int = 100,
          ko: tuple[str, ...] = (), ja: tuple[str, ...] = ()) -> Column:
    return Column(name, TEXT, help, example, aliases, f"userInfo.{name}", max_length, ko=ko, ja=ja)


COLUMNS: tuple[Column, ...] = (
    Column("action", ACTION, N_("What to do with the row in `bulkprov apply`: add, update or remove "
           "(the admin console's User Status New / Update / Delete also work). Ignored by add/update/remove."),
           "add", ("User Status", "Operation", "Op"),
           ko=("작업", "구분", "처리", "처리 구분", "사용자 상태"), ja=("操作", "処理", "処理区分", "区分", "ユーザーステータス")),
    Column("emailId", EMAIL, N_("The user's email address. Required to add a user; update and remove "
           "may use orgUserId instead."), "jane.doe@example.com",
           ("Email", "E-mail", "Email Address", "E-mail Address", "Email ID", "Mail", "User Email", "Login"),
           "userInfo.emailId", 254,
           ko=("이메일", "이메일 주소", "이메일 ID", "메일", "메일 주소", "전자우편", "사용자 이메일"),
           ja=("メールアドレス", "メール", "Eメール", "Eメールアドレス", "電子メール", "メールID")),
    _info("orgUserId", N_("Your organisation's id for the user (employee number). Optional; identifies the "
          "user for update/remove when there is no email."), "E10442",
          "Alternate ID", "Employee ID", "Employee Number", "Emp ID", "Org User ID", "User ID", max_length=100,
          ko=("사번", "사원 번호", "직원 번호", "직원 ID", "대체 ID"),
          ja=("社員番号", "従業員番号", "社員ID", "職員番号", "代替ID")),
    _info("firstName", N_("Given name."), "Jane", "First Name", "Given Name", "First", "Forename",
          ko=("이름",), ja=("名", "下の名前")),
    _info("lastName", N_("Family name."), "Doe", "Last Name", "Surname", "Family Name", "Last",
          ko=("성",), ja=("姓", "名字", "苗字")),
    Column("fullName", FULL_NAME, N_("Full name, family name first (山田 太郎, 김 민준), as Japanese and Korean "
           "rosters write it: split at the first space into lastName and firstName, only for rows whose "
           "firstName and lastName are blank; a full name without a space makes the row invalid. Never "
           "written by bulkprov."), "",
           ko=("성명", "성함"), ja=("氏名", "フルネーム")),
    _info("companyName", N_("Company name."), "Example Corp", "Company", "Organization", "Organisation",
          ko=("회사", "회사명", "회사 이름"), ja=("会社名", "会社", "企業名")),
    _info("dept", N_("Department."), "Customer Care", "Department", "Dept Name", "Division",
          ko=("부서", "부서명", "소속"), ja=("部署", "所属", "部署名", "部門")),
    _info("companyContactPhone", N_("Company contact phone."), "+1 212 555 0100",
          "Company Phone", "Contact Phone", "Phone", "Mobile", max_length=40,
          ko=("전화", "전화번호", "휴대폰", "휴대전화", "연락처"), ja=("電話番号", "電話", "携帯電話", "携帯番号", "連絡先")),
    _info("worknumber", N_("Work phone number."), "8212334444", "Work Phone", "Work Number", "Office Phone",
          max_length=40, ko=("회사 전화", "직장 전화", "사무실 전화", "내선 번호"),
          ja=("勤務先電話番号", "会社電話番号", "内線番号", "内線")),
    _info("street", N_("Street address."), "1 Main Street", "Street Address", "Address", "Address Line 1",
          max_length=200, ko=("주소", "도로명 주소"), ja=("住所", "番地")),
    _info("suiteNo", N_("Suite / apartment number."), "Suite 400", "Suite", "Suite Number", "Apt", "Address Line 2",
          max_length=40,
          ko=("상세 주소", "호수"), ja=("建物名", "部屋番号", "住所2")),
    _info("city", N_("City."), "New York", "Town", ko=("시/군/구", "도시", "시"), ja=("市区町村", "市町村", "都市")),
    _info("zip", N_("Postal code (keep leading zeros: format the column as text or 00000)."), "02128",
          "Zip Code", "Postal Code", "Postcode", "ZIP", max_length=20, ko=("우편번호",), ja=("郵便番号", "〒")),
    _info("state", N_("State / province."), "NY", "Province", "Region", ko=("시/도", "도"), ja=("都道府県", "州")),
    _info("country", N_("Country."), "United States", "Country Name", ko=("국가", "나라"), ja=("国", "国名")),
    Column("groups", GROUPS, N_("Groups to put the user in: group names as the account writes them, or group "
           "ids (e-…), separated by ; or new lines."), "Support Agents", ("Group", "User Groups"), "groups",
           ko=("그룹", "사용자 그룹"), ja=("グループ", "ユーザーグループ")),
    Column("roles", ROLES, N_("Roles: ROLE for an admin role, ROLE@BOT for a bot role; names as the account "
           "writes them, or ids; separated by ; or new lines."),
           "Bot Tester@Support Bot", ("Role", "User Roles"), "roles",
           ko=("역할", "사용자 역할", "권한"), ja=("ロール", "役割", "権限")),
    Column("botTasks", BOT_TASKS, N_("Bot tasks: BOT:DIALOG,DIALOG per bot, bots separated by ; or new lines. "
           "BOT is a bot name, or a bot id (st-…); dialogs are dg-… ids."),
           "Support Bot:dg-0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
           ("Bot Tasks", "Assign Bot Tasks", "Tasks"), "assignBotTasks", 2000,
           ko=("봇 작업", "봇 태스크"), ja=("ボットタスク", "ボットのタスク")),
    Column("canCreateBot", BOOL, N_("Builder access: may create bots. TRUE/FALSE, yes/no, y/n, 1/0. "
           "Blank means FALSE (the server's own default would be TRUE)."), "FALSE",
           ("Can Create Bot", "Create Bots", "Builder"), "canCreateBot",
           ko=("봇 생성 권한", "봇 생성", "빌더"), ja=("ボット作成権限", "ボット作成", "ビルダー")),
    Column("isDeveloper", BOOL, N_("Developer access. TRUE/FALSE, yes/no, y/n, 1/0. Blank means FALSE."),
           "FALSE", ("Is Developer", "Developer"), "isDeveloper", ko=("개발자",), ja=("開発者",)),
    Column("sendEmail", BOOL, N_("Send the activation email on add. Blank uses the run's send-email setting."),
           "TRUE", ("Send Email", "Send Activation Email", "Notify"), None,
           ko=("이메일 발송", "활성화 메일 발송", "초대 메일 발송"), ja=("メール送信", "招待メール送信", "アクティベーションメール送信")),
)

BY_NAME: dict[str, Column] = {c.name: c for c in COLUMNS}
USER_INFO_FIELDS: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.in_user_info)
BOOL_COLUMNS: tuple[str, ...] = tuple(c.name for c in COLUMNS if c.kind == BOOL)

# Lookup sheets of the workbook (SPEC 4): sheet name -> (name column, id column, id pattern).
LOOKUP_SHEETS: dict[str, tuple[str, str, re.Pattern[str]]] = {
    "Roles": ("name", "roleId", ROLE_ID_RE),
    "Bots": ("name", "botId", BOT_ID_RE),
    "Groups": ("name", "groupId", GROUP_ID_RE),
}


# The Results sheet's columns (results.py writes them).  Those that are not input columns are read
# back silently when a result file is used as input (its Failures sheet), never as data.
RESULT_COLUMNS = ("row", "action", "emailId", "orgUserId", "status", "reason",
                  "error_code", "http_status", "attempts", "batch")
# The user columns of a Users sheet that is itself an input file (lookup output, undo files).
USER_SHEET_COLUMNS = tuple(c.name for c in COLUMNS if c.in_template and c.name not in ("action", "sendEmail"))
# The columns a template writes (a full name is accepted on input only).
TEMPLATE_COLUMNS: tuple[Column, ...] = tuple(c for c in COLUMNS if c.in_template)
# Role, group and bot *names* beside the ids of a Users sheet (lookup, export, undo: bulkprov.outputs.names),
# entry for entry; read back silently like the result columns, so the sheet stays an input file.
NAME_COLUMNS = ("roleNames", "groupNames", "botNames")
# The template's lookup sheets hold example names with these ids and say so in a ``note`` column: such a row is
# no account's name.  The lookup reader stamps it with EXAMPLE_HOST, which is no host: offline (no account to
# compare with) it still resolves the template's example row; against an account it never supplies an id nor
# disagrees with the account's own "Bot Tester".
EXAMPLE_HOST = "template-example"
TEMPLATE_EXAMPLE_IDS = frozenset({"5c9d0a7e3f1b2a4c6d8e0f12", "5c9d0a7e3f1b2a4c6d8e0f13", "5c9d0a7e3f1b2a4c6d8e0f14",
                                  "st-6c5a1c5e-8b1f-5e0b-9d3c-2f4e6a8b0c1d", "e-06b41cdd-7678-5394-b958-40ca5662f502"})
# The other way round (export, #28): names in the list cells, their *ids* beside them entry for entry, read back
# silently too -- the account an export is added to resolves the names; the ids are the source's.
ID_COLUMNS = ("roleIds", "groupIds", "botTaskIds")


_HEADER_NOISE = re.compile(r"[\s_\-.\u00a0・･]+")


def normalize_header(text: object) -> str:
    """Key used to compare headers: NFKC (full-width letters and spaces), then case, spaces, ``_``,
    ``-``, ``.`` and the Japanese middle dot (メール・アドレス) do not matter."""
    text = str(text)
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text)
    return _HEADER_NOISE.sub("", text).lower()


def normalize_word(text: str) -> str:
    """A yes/no or action cell as :data:`TRUE_WORDS` and :data:`ACTIONS` spell it (full-width ＹＥＳ too)."""
    if not text.isascii():
        text = unicodedata.normalize("NFKC", text).strip()
    return text.casefold()


RESULT_HEADERS = frozenset(normalize_header(c) for c in (*RESULT_COLUMNS, *NAME_COLUMNS, *ID_COLUMNS)
                           if c not in BY_NAME)


_HEADER_INDEX: dict[str, Column] = {}
for _col in COLUMNS:
    for _alias in (_col.name, *_col.aliases, *_col.ko, *_col.ja):
        _HEADER_INDEX.setdefault(normalize_header(_alias), _col)


# Every Latin header bulkprov knows, normalised -> (its column, the header as declared): near_miss's candidates.
_LATIN_HEADERS: dict[str, tuple[Column, str]] = {}
for _col in COLUMNS:
    for _alias in (_col.name, *_col.aliases):
        _key = normalize_header(_alias)
        if _key.isascii() and _key.isalpha():
            _LATIN_HEADERS.setdefault(_key, (_col, _alias))


def match_header(text: object) -> Column | None:
    """The column a header names, or None when it is not one of ours."""
    return _HEADER_INDEX.get(normalize_header(text))


# Headers that are a column misspelt, beyond what one edit of a Latin header finds (near_miss):
# short words and the common two-letter slips (normalised form -> the header they are meant to be).
KNOWN_MISSPELLINGS = {
    "emal": "Email", "emai": "Email", "mial": "Mail", "emil": "Email", "emial": "Email", "eamil": "Email",
    "emailadress": "Email Address", "emailaddres": "Email Address", "frist": "First", "fristname": "First Name",
    "fisrtname": "First Name", "firtsname": "First Name", "lsat": "Last", "lsatname": "Last Name",
    "lastnmae": "Last Name", "surename": "Surname", "deparment": "Department", "departmnet": "Department",
    "depatment": "Department", "dpet": "Dept", "compnay": "Company", "comapny": "Company", "adress": "Address",
    "adres": "Address", "cty": "City", "stae": "State", "contry": "Country", "coutnry": "Country",
    "grop": "Group", "gruop": "Group", "rols": "Role", "rle": "Role", "phnoe": "Phone", "phon": "Phone",
}
# Korean and Japanese near-misses come only from this list: one edit of a one- or two-character header is
# another word (성별 is gender, not a misspelt 성; 国籍 is nationality, not 国; 부서코드 is a department
# code).  What is here is a slip of the keyboard or of the input method (部所 for 部署, 指名 for 氏名, both
# read the same).
LOCAL_MISSPELLINGS = {
    "이매일": "이메일", "이메알": "이메일", "이메일주서": "이메일 주소", "부써": "부서", "성멍": "성명", "사븐": "사번",
    "우펀번호": "우편번호", "젼화번호": "전화번호",
    "部所": "部署", "指名": "氏名", "性": "姓", "メールアドレ": "メールアドレス", "メールアドレス名": "メールアドレス",
    "社員番后": "社員番号", "市区長村": "市区町村", "郵便番合": "郵便番号",
}
# A Latin header this long or longer is a near-miss one edit away from a known header.
NEAR_MISS_MIN_LETTERS = 5


def near_miss(text: object) -> tuple[Column, str] | None:
    """(the column, the header it is meant to be) when an unknown header looks like a misspelt column:
    one edit (a typo, a swapped pair of letters) from a known Latin header for Latin headers of at least
    five letters ("Frist Name", "Departmnt"), or a listed misspelling (short words, Korean, Japanese).
    Anything else is another column ("Last day", 성별, 国籍, 부서코드): None."""
    key = normalize_header(text)
    listed = KNOWN_MISSPELLINGS.get(key) or LOCAL_MISSPELLINGS.get(key)
    if listed is not None:
        return _HEADER_INDEX[normalize_header(listed)], listed
    if len(key) < NEAR_MISS_MIN_LETTERS or not (key.isascii() and key.isalpha()):
        return None
    for alias, (column, written) in _LATIN_HEADERS.items():
        if abs(len(alias) - len(key)) <= 1 and _edit_distance(key, alias, 1) <= 1:
            return column, written
    return None


def suggest_header(text: object) -> str | None:
    """The known column an unknown header may mean (did-you-mean, in a notice), if any.

    Only the same Latin word mistyped counts: a typo, a swapped pair of letters, case, spacing or
    punctuation.  A different word never does: "Last day" is not a misspelt "Last" (following such a
    hint would write leaving dates into last names), and Korean or Japanese headers get none (성별 is
    one letter from 성, and means gender).
    """
    key = normalize_header(text)
    if len(key) < 4 or not key.isascii():
        return None
    allowed = 1 if len(key) <= 8 else 2
    best: tuple[int, str] | None = None
    for alias, column in _HEADER_INDEX.items():
        if abs(len(alias) - len(key)) > allowed:
            continue
        distance = _edit_distance(key, alias, allowed)
        if distance <= allowed and (best is None or distance < best[0]):
            best = (distance, column.name)
    return best[1] if best else None


def _edit_distance(a: str, b: str, cap: int) -> int:
    """Optimal-string-alignment distance (a swap of two neighbours is one edit), stopping past ``cap``."""
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > cap:
            return cap + 1
        previous2, previous = previous, current
    return previous[-1]


# The template's example row uses this address; a row still carrying it is refused (HR forgot to delete it).
EXAMPLE_EMAIL = "jane.doe@example.com"
# A Korean or Japanese template is a roster as HR there writes one: the family name before the given name,
# and an example row of a person, a company and an address of the country (its lookup names are the ones
# the template's Roles, Bots and Groups sheets hold: bulkprov.outputs.template.LOOKUP_EXAMPLES).
FAMILY_NAME_FIRST = frozenset({"ko", "ja"})
LOCAL_EXAMPLES: dict[str, dict[str, str]] = {
    "ko": {"emailId": "minjun.kim@example.com", "lastName": "김", "firstName": "민준", "companyName": "예시 주식회사",
           "dept": "고객지원팀", "companyContactPhone": "+82 2 555 0100", "worknumber": "0255550100",
           "street": "세종대로 110", "suiteNo": "4층", "city": "중구", "zip": "04524", "state": "서울특별시",
           "country": "대한민국", "groups": "상담원", "roles": "봇 테스터@고객지원 봇",
           "botTasks": "고객지원 봇:dg-0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"},
    "ja": {"emailId": "taro.yamada@example.com", "lastName": "山田", "firstName": "太郎", "companyName": "例示株式会社",
           "dept": "カスタマーサポート部", "companyContactPhone": "+81 3 5555 0100", "worknumber": "0355550100",
           "street": "千代田1-1", "suiteNo": "4階", "city": "千代田区", "zip": "100-0001", "state": "東京都",
           "country": "日本", "groups": "サポート担当", "roles": "ボットテスター@サポートボット",
           "botTasks": "サポートボット:dg-0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b"},
}
EXAMPLE_EMAILS = frozenset({EXAMPLE_EMAIL, *(row["emailId"] for row in LOCAL_EXAMPLES.values())})


def template_columns(lang: str = "en") -> tuple[Column, ...]:
    """The template's columns in ``lang``: Korean and Japanese put lastName (성, 姓) before firstName."""
    if lang not in FAMILY_NAME_FIRST:
        return TEMPLATE_COLUMNS
    names = [c.name for c in TEMPLATE_COLUMNS]
    first, last = names.index("firstName"), names.index("lastName")
    order = list(TEMPLATE_COLUMNS)
    order[first], order[last] = order[last], order[first]
    return tuple(order)


def example_row(lang: str = "en") -> dict[str, str]:
    """The template's example row in ``lang`` (the yes/no and action words are the template's own)."""
    return {c.name: c.example for c in TEMPLATE_COLUMNS} | LOCAL_EXAMPLES.get(lang, {})


def markdown_table() -> str:
    """The column reference table of the README, generated so docs cannot drift from code."""
    lines = ["| column | also accepted as | Korean | Japanese | max | what it is | example |",
             "|---|---|---|---|---|---|---|"]
    for c in COLUMNS:
        aliases, ko, ja = (", ".join(names) or "—" for names in (c.aliases, c.ko, c.ja))
        example = f"`{c.example}`" if c.example else "—"
        lines.append(f"| `{c.name}` | {aliases} | {ko} | {ja} | {c.max_length or '—'} | {c.full_help} | {example} |")
    return "\n".join(lines)


def list_cells_markdown() -> str:
    """What a list cell means per command, as the README shows it (generated, so it cannot drift)."""
    lines = ["| column | add | update | plan / sync |", "|---|---|---|---|"]
    for c in COLUMNS:
        if c.is_list:
            lines.append(f"| `{c.name}` | {LIST_ON_ADD} | {LIST_ON_UPDATE[c.kind]} | {LIST_ON_SYNC} |")
    return "\n".join(lines)
