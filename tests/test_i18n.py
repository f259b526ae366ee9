"""Korean and Japanese: the catalogs are complete, current and compiled; nothing a person reads is left
unmarked; Korean and Japanese rosters and full-width input read as an HR team means them; the
template round-trips in every language; ``--help`` reads no catalog."""

from __future__ import annotations

import ast
import re
import string
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

from bulkprov import errors, i18n, schema
from bulkprov.cli import main
from bulkprov.jobs import JobSettings, run_job
from bulkprov.outputs.results import read_results
from bulkprov.outputs.template import INSTRUCTIONS, write_template
from bulkprov.units import format_number
from tests.conftest import ROOT, read_sheet

LOCALE = ROOT / "bulkprov" / "locale"
TRANSLATED = ("ko", "ja")


def _po(lang: str):
    with open(LOCALE / lang / "LC_MESSAGES" / "bulkprov.po", "rb") as fh:
        return read_po(fh, locale=lang)


def _extracted() -> dict[str, set[str]]:
    """What Babel extracts from the code with the project's own mapping: msgid -> files."""
    from babel.messages.frontend import parse_mapping_cfg

    with open(ROOT / "babel.cfg", encoding="utf-8") as fh:
        method_map, options_map = parse_mapping_cfg(fh)
    found: dict[str, set[str]] = {}
    for filename, _line, message, _comments, _context in extract_from_dir(
            str(ROOT / "bulkprov"), method_map, options_map):
        msgid = message[0] if isinstance(message, tuple) else message
        found.setdefault(msgid, set()).add(filename)
    return found


def _placeholders(text: str) -> tuple[list[tuple[str, str, str | None]], list[str]]:
    """Brace fields (name, format spec, conversion), sorted, and %-placeholders in order."""
    fields = sorted((name, spec or "", conv) for _, name, spec, conv in string.Formatter().parse(text)
                    if name is not None)
    return fields, re.findall(r"%[-#0 +]*\d*(?:\.\d+)?[sdifr]", text)


# -- the catalogs ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("lang", TRANSLATED)
def test_every_message_has_a_translation_with_the_same_placeholders(lang):
    problems = []
    for message in _po(lang):
        if not message.id:
            continue
        msgid = message.id if isinstance(message.id, str) else message.id[0]
        text = message.string if isinstance(message.string, str) else message.string[0]
        if not text or message.fuzzy:
            problems.append(("untranslated" if not text else "fuzzy", msgid))
        elif _placeholders(text) != _placeholders(msgid):
            problems.append(("placeholders", msgid, text))
        elif text.startswith(" ") != msgid.startswith(" ") or text.endswith(" ") != msgid.endswith(" "):
            problems.append(("edge spaces", msgid, text))  # indented console lines, "[y/N] " prompts
    assert not problems, f"{lang}: fix bulkprov/locale/{lang}/LC_MESSAGES/bulkprov.po: {problems[:10]}"


def test_the_catalogs_hold_exactly_what_the_code_marks():
    code = set(_extracted())
    for lang in TRANSLATED:
        catalog = {m.id for m in _po(lang) if m.id}
        assert not code - catalog, f"new strings not in the {lang} catalog (run make catalogs): {sorted(code - catalog)[:10]}"
        assert not catalog - code, f"{lang} catalog holds strings the code no longer has (run make catalogs): " \
                                   f"{sorted(catalog - code)[:10]}"


@pytest.mark.parametrize("lang", TRANSLATED)
def test_the_compiled_catalog_is_the_po_file(lang):
    """The .mo files are committed (the wheel ships them, no build step compiles): stale ones fail here."""
    folder = LOCALE / lang / "LC_MESSAGES"
    with open(folder / "bulkprov.mo", "rb") as fh:
        compiled = {(m.context, m.id): m.string for m in read_mo(fh) if m.id}
    # keyed by context too: "finished" the run state (pgettext) is not "finished" the Summary's time
    source = {(m.context, m.id): m.string for m in _po(lang) if m.id and m.string and not m.fuzzy}
    assert compiled == source, f"run make catalogs: {folder / 'bulkprov.mo'} is stale"


def test_a_stale_mo_is_detected(tmp_path):
    """The check above can fail: a catalog compiled before a change differs from the .po."""
    catalog = _po("ko")
    first = next(m for m in catalog if m.id)
    first.string = first.string + " (changed)"
    with open(tmp_path / "changed.mo", "wb") as fh:
        write_mo(fh, catalog)
    with open(tmp_path / "changed.mo", "rb") as fh:
        compiled = {m.id: m.string for m in read_mo(fh) if m.id}
    with open(LOCALE / "ko" / "LC_MESSAGES" / "bulkprov.mo", "rb") as fh:
        committed = {m.id: m.string for m in read_mo(fh) if m.id}
    assert compiled != committed


# -- nothing a person reads is left unmarked -----------------------------------------------------------


def _declared_texts() -> set[str]:
    """Every text the code declares for people: error templates and descriptions, notes, warnings, the
    columns' help, the command line's hints and lines, the template's Instructions, the plan words."""
    from bulkprov.cli import wording
    from bulkprov.send.batches import TO_DO

    texts: set[str] = set()
    for cls in errors.all_error_classes():
        texts |= set(cls.all_templates().values()) | {cls.description}
    for table in (errors.ROW_CODES, errors.OUTCOME_CODES, errors.ROW_NOTES, errors.SUCCESS_NOTES, errors.WARNINGS):
        for problem in table.values():
            texts |= set(problem.templates.values()) | {problem.description}
    texts |= set(errors.WARNING_CODES.values()) | {errors.ROW_ERROR}
    texts |= {c.help for c in schema.COLUMNS} | {schema.LIST_ON_ADD, schema.LIST_ON_SYNC, *schema.LIST_ON_UPDATE.values()}
    texts |= set(wording.HINTS.values()) | set(wording.SAID.values()) | set(TO_DO.values())
    texts |= {line for line in INSTRUCTIONS if line}
    # A template that is only a parameter ("{said}": the server's own words) has nothing to translate.
    return {t for t in texts if not re.fullmatch(r"\{\w+\}", t)}


def test_every_declared_text_is_extracted():
    """A template Babel cannot see (built with + or a variable inside N_) is never translated."""
    missing = sorted(_declared_texts() - set(_extracted()))
    assert not missing, f"write these as one literal inside N_(...): {missing[:10]}"


# Modules whose words a person reads (the command line, the workbooks, progress and plan lines). In them a
# string constant that reads as prose must be inside a gettext call (N_, _, gettext, ngettext, pgettext).
USER_FACING = ["cli/commands.py", "cli/wording.py", "cli/__init__.py", "jobs/phrasing.py", "logs.py", "units.py",
               "send/batches.py", "outputs/template.py", "outputs/undo.py", "outputs/results.py", "sync/workbook.py",
               "sync/strays.py", "sync/plan.py", "jobs/syncing.py", "jobs/history.py", "jobs/runs.py",
               "jobs/stopping.py", "jobs/checkonly.py", "jobs/export.py", "io/shared/headers.py", "io/shared/sniff.py",
               "io/__init__.py", "errors/__init__.py", "errors/base.py", "errors/files.py", "errors/run.py",
               "errors/rows.py", "schema.py", "check/validator.py", "check/plain.py", "cli/approvals.py",
               "approvals/flow.py", "cli/demo.py", "jobs/settings.py", "jobs/runner.py", "jobs/frame.py",
               "jobs/sending.py", "approvals/audit.py", "jobs/internal.py", "state/room.py", "outputs/webhook.py",
               "kore/replies.py", "kore/listing.py", "kore/lookup.py", "kore/auth.py", "send/dispatcher.py",
               "send/verify.py", "io/shared/guard.py", "io/shared/calamine.py", "io/xlsx/book.py", "io/xls/book.py",
               "io/xls/scan.py", "io/xlsx/scan.py",
               "io/csv/encoding.py"]
MARKERS = {"N_", "_", "gettext", "ngettext", "pgettext", "gettext_in"}
# Prose that is not for people to read in their language: programming errors (a bug, not a message),
# the JSON/CSV keys, the workbook's own data, the README's generated tables.
NOT_FOR_PEOPLE = {"ValueError", "KeyError", "TypeError", "RuntimeError", "set_properties", "set_column",
                  "add_argument", "add_parser"}
# Module constants that hold data, not words: example names of the template's lookup sheets; and the
# schema's column declarations (their help is N_-marked, checked above; aliases and examples are data).
DATA_CONSTANTS = {"LOOKUP_EXAMPLES", "CODEC_LABELS", "ENCODINGS_TRIED", "RATE_LIMIT_MESSAGE", "KNOWN_MISSPELLINGS",
                  "LOCAL_MISSPELLINGS", "LOCAL_EXAMPLES"}
DATA_CALLS = {"Column", "_info"}
PROSE = re.compile(r"[A-Za-z]{2,}[ ,;:']+[A-Za-z]{2,}")


def _unmarked_prose(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
                  and n.body and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    exempt: set[int] = set(docstrings)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            if func in MARKERS or func in NOT_FOR_PEOPLE or func in DATA_CALLS:
                exempt |= {id(n) for n in ast.walk(node)}
        elif isinstance(node, ast.Compare | ast.Subscript):  # comparisons with and keys of other text
            exempt |= {id(n) for n in ast.walk(node)}
        elif isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):  # attribute docstrings
            exempt.add(id(node.value))
        elif isinstance(node, ast.Assign) and any(getattr(t, "id", "") in DATA_CONSTANTS for t in node.targets):
            exempt |= {id(n) for n in ast.walk(node)}
    return [(node.lineno, node.value) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in exempt
            and PROSE.search(node.value) and not _technical(node.value)]


def _technical(text: str) -> bool:
    """Words that are not sentences: markdown of the generated README tables, regexes, sheet and column
    names, SQL, file names."""
    return text.startswith(("|", "^", "(?", "<")) or "`" in text and text.count(" ") < 3


@pytest.mark.parametrize("module", USER_FACING)
def test_user_facing_strings_are_marked_for_translation(module):
    path = ROOT / "bulkprov" / module
    extracted = {msgid for msgid, files in _extracted().items() if any(f.endswith(module) for f in files)}
    unmarked = [(line, text) for line, text in _unmarked_prose(path) if not any(text in m for m in extracted)]
    assert not unmarked, f"bulkprov/{module}: mark these with N_()/_() (or move them to bulkprov/errors/): {unmarked}"


def test_the_marking_check_can_fail(tmp_path):
    path = tmp_path / "example.py"
    path.write_text('def f(n):\n    print(f"{n} users were added")\n    return N_("a marked sentence here")\n',
                    encoding="utf-8")
    assert [text for _, text in _unmarked_prose(path)] == [" users were added"]


# -- the language of a run -------------------------------------------------------------------------------


def test_language_comes_from_the_flag_then_the_locale(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LANG", "ja_JP.UTF-8")
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_MESSAGES", raising=False)
    monkeypatch.chdir(tmp_path)
    assert main(["template", "-o", "t.xlsx"]) == 0
    assert "テンプレートを作成しました" in capsys.readouterr().out
    assert main(["template", "--lang", "ko", "-o", "t2.xlsx"]) == 0
    assert "템플릿을 만들었습니다" in capsys.readouterr().out
    assert i18n.current() == "en", "main() gives the caller its language back"


def test_a_profile_chooses_the_language(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bulkprov.toml").write_text('[profiles.seoul]\nlang = "ko"\n', encoding="utf-8")
    (tmp_path / "u.csv").write_text("이메일,이름\nbad@,민준\n", encoding="utf-8")
    assert main(["add", "u.csv", "--dry-run", "--profile", "seoul", "-o", "r.xlsx"]) == 1
    out = capsys.readouterr().out
    assert "확인이 필요한 행" in out and "올바른 이메일 주소가 아닙니다" in out
    (tmp_path / "bulkprov.toml").write_text('[profiles.seoul]\nlang = "fr"\n', encoding="utf-8")
    assert main(["add", "u.csv", "--dry-run", "--profile", "seoul", "-o", "r2.xlsx"]) == 2
    assert "lang must be a en, ko or ja" in capsys.readouterr().err


def test_help_reads_no_catalog_and_imports_no_babel():
    code = ("import sys\nfrom bulkprov import i18n\nfrom bulkprov.cli import main\n"
            "for argv in (['--help'], ['template', '--help'], ['validate', '--help']):\n"
            "    try:\n        main(argv)\n    except SystemExit:\n        pass\n"
            "print(sorted(i18n.LOADED), 'babel' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={"LANG": "ja_JP.UTF-8", "PATH": "/usr/bin:/bin"})
    assert out.stdout.strip().splitlines()[-1] == "[] False"


def test_a_translated_run_loads_its_catalog_once():
    with i18n.using("ja"):
        assert errors.ROW_CODES["missing-email"].render() == "メールアドレスが空です: 追加するユーザーにはそれぞれメールアドレスが必要です"
    assert "ja" in i18n.LOADED
    assert errors.ROW_CODES["missing-email"].render() == "the email is blank: every user to add needs one"


def test_translations_merge_both_domains_and_skip_a_missing_one(tmp_path, monkeypatch):
    from babel.messages.catalog import Catalog

    for lang in TRANSLATED:
        folder = tmp_path / lang / "LC_MESSAGES"
        folder.mkdir(parents=True)
        (folder / "bulkprov.mo").write_bytes((LOCALE / lang / "LC_MESSAGES" / "bulkprov.mo").read_bytes())
    web = Catalog(locale="ko", domain="web")
    web.add("Upload", "올리기")
    with open(tmp_path / "ko" / "LC_MESSAGES" / "web.mo", "wb") as fh:
        write_mo(fh, web)
    monkeypatch.setattr(i18n, "LOCALE_DIR", tmp_path)
    i18n._merged.cache_clear()
    try:
        ko = i18n.translations("ko")
        assert ko.gettext("Upload") == "올리기" and ko.gettext("done") == "완료"
        ja = i18n.translations("ja")  # no web catalog for Japanese: the bulkprov domain alone
        assert ja.gettext("done") == "完了" and ja.gettext("Upload") == "Upload"
        assert i18n.translations("en").gettext("done") == "done"
    finally:
        i18n._merged.cache_clear()


def test_summary_dates_in_the_locale(tmp_path):
    path = tmp_path / "u.csv"
    path.write_text("email\na@acme-corp.com\n", encoding="utf-8")
    for lang, label, pattern in (("ko", "시작", r"^\d{4}\. \d{1,2}\. \d{1,2}\. (오전|오후) "),
                                 ("ja", "開始", r"^\d{4}/\d{2}/\d{2} \d{1,2}:\d{2}:\d{2}$"),
                                 ("en", "started", r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}")):
        outcome = run_job(path, JobSettings(command="validate", output=tmp_path / f"{lang}.xlsx", lang=lang))
        cells = {r[0].value: r[1].value for r in openpyxl.load_workbook(outcome.results_path)["Summary"].iter_rows()}
        assert re.match(pattern, cells[label]), (lang, cells[label])
    assert format_number(1234567, "ko") == "1,234,567" and format_number(0.5, "ja") == "0.5"


def test_summary_settings_read_in_the_run_language(tmp_path):
    """The settings block of the Summary is words for the reader too: labels and yes/no translated,
    values (the command, numbers) as given."""
    path = tmp_path / "u.csv"
    path.write_text("email\na@acme-corp.com\n", encoding="utf-8")
    for lang, labels in (("ko", ("명령", "시험 실행(dry run)", "예")), ("ja", ("コマンド", "試行(dry run)", "はい")),
                         ("en", ("command", "dry run", "yes"))):
        outcome = run_job(path, JobSettings(command="add", dry_run=True, output=tmp_path / f"{lang}.xlsx", lang=lang))
        cells = {r[0].value: r[1].value for r in openpyxl.load_workbook(outcome.results_path)["Summary"].iter_rows()}
        command, dry_run, yes = labels
        assert cells[command] == "add" and cells[dry_run] == yes, (lang, cells)


@pytest.mark.parametrize(("lang", "words"), [("ko", "서버가 응답 전에 연결을 끊었습니다"),
                                             ("ja", "サーバーが応答前に接続を切りました"),
                                             ("en", "the server closed the connection before replying")])
def test_a_lost_connection_is_explained_in_the_run_language(lang, words):
    """What the transport says about a call (kept in the Results reason and the log) is translated;
    what the server itself said stays as it said it."""
    import aiohttp

    from bulkprov.kore.replies import classify, classify_exception

    with i18n.using(lang):
        lost = classify_exception(aiohttp.ServerDisconnectedError())
        refused = classify(500, {"Content-Type": "application/json"}, '{"errors":[{"msg":"Kaboom 42"}]}')
        bare = classify(502, {"Content-Type": "text/html"}, "<html><title>Bad Gateway</title></html>")
    assert words in lost.message
    assert refused.message == "HTTP 500: Kaboom 42"
    assert "Bad Gateway" in bare.message and ("JSON" in bare.message)
    assert (bare.message.startswith("HTTP 502: reply is not JSON")) == (lang == "en")


# -- Korean and Japanese rosters -------------------------------------------------------------------------


def _classified(path: Path, tmp_path: Path, **settings) -> list[tuple[int, str, str]]:
    outcome = run_job(path, JobSettings(command="validate", output=tmp_path / f"{path.name}.xlsx", **settings))
    return [(r.row, r.status, r.error_code) for r in read_results(outcome.results_path)]


def test_the_korean_roster_is_classified_as_the_english_one(tmp_path):
    english = _classified(ROOT / "sample_data" / "roster.xlsx", tmp_path)
    korean = _classified(ROOT / "sample_data" / "roster-ko.xlsx", tmp_path, lang="ko")
    assert korean == english
    assert sum(1 for _, status, _ in korean if status == "invalid") == 8


def test_the_japanese_cp932_roster_is_classified_as_the_english_one(tmp_path):
    lookups = {"lookups_file": ROOT / "sample_data" / "roster.xlsx"}  # a CSV has no Roles/Bots/Groups sheets
    english = _classified(ROOT / "sample_data" / "roster.xlsx", tmp_path, **lookups)
    path = ROOT / "sample_data" / "roster-ja.csv"
    assert path.read_bytes().decode("cp932").startswith("メールアドレス,社員番号,氏名")
    japanese = _classified(path, tmp_path, lang="ja", **lookups)
    assert japanese == english
    rows = {r["row"]: r for r in read_sheet(tmp_path / "roster-ja.csv.xlsx", "Results")}
    assert "'Ｅ１０００１' → 'E10001'" in rows[3]["reason"] and "分けました" in rows[3]["reason"]


def test_full_width_input_is_normalised_with_a_note(tmp_path):
    path = tmp_path / "fw.csv"
    path.write_text("メールアドレス,社員番号,電話番号,郵便番号,グループ,開発者\n"
                    "ｊａｎｅ＠ａｃｍｅ-ｃｏｒｐ.ｃｏｍ,Ｅ１２３,０３－１２３４－５６７８,１００－０００１,"
                    "ｅ－０６ｂ４１ｃｄｄ－７６７８－５３９４－ｂ９５８－４０ｃａ５６６２ｆ５０２,ＹＥＳ\n"
                    "taro@acme-corp。com,E2,,,,いいえ\n"
                    "　hanako@acme-corp.com　,E3,,,,×\n", encoding="utf-8")
    outcome = run_job(path, JobSettings(command="validate", output=tmp_path / "r.xlsx"))
    rows = list(read_results(outcome.results_path))
    assert [r.status for r in rows] == ["valid"] * 3
    assert [r.email for r in rows] == ["jane@acme-corp.com", "taro@acme-corp.com", "hanako@acme-corp.com"]
    assert rows[0].org_user_id == "E123"
    for expected in ("'０３－１２３４－５６７８' → '03-1234-5678'", "'１００－０００１' → '100-0001'",
                     "→ 'e-06b41cdd-7678-5394-b958-40ca5662f502'", "'Ｅ１２３' → 'E123'"):
        assert expected in rows[0].reason
    assert "'taro@acme-corp。com' → 'taro@acme-corp.com'" in rows[1].reason


@pytest.mark.parametrize(("email", "variant_words"), [
    ("ｔａｒｏ＠ａｃｍｅ", "even after full-width characters were converted"),
    ("taro@acme-corp.com。", "ends with '。'"),
    ("ㅓ뮤ㄷ", "contains 'ㅓ'"),
    ("たろう@", "contains 'た'"),
    ("김민수@acme-corp.co.kr", "contains '김'"),   # well-formed, but a Hangul-mode keyboard wrote the mailbox
    ("kim@회사.kr", "contains '회'"),              # an internationalised domain: not what a roster means
    ("山田@acme-corp.co.jp", "contains '山'"),
    ("taro@", "write it like jane.doe@example.com"),
])
def test_an_email_still_invalid_says_why_in_the_users_terms(tmp_path, email, variant_words):
    path = tmp_path / "e.csv"
    path.write_text(f"email\n{email}\n", encoding="utf-8")
    (row,) = read_results(run_job(path, JobSettings(command="validate", output=tmp_path / "r.xlsx")).results_path)
    assert row.status == "invalid" and row.error_code == "invalid-email" and variant_words in row.reason


def test_korean_and_japanese_words_for_yes_no_and_actions(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("구분,이메일,개발자\n추가,a@acme-corp.com,예\n수정,b@acme-corp.com,아니오\n삭제,c@acme-corp.com,\n"
                    "追加,d@acme-corp.com,はい\n更新,e@acme-corp.com,いいえ\n削除,f@acme-corp.com,\n"
                    "ＡＤＤ,g@acme-corp.com,ＴＲＵＥ\n", encoding="utf-8")
    outcome = run_job(path, JobSettings(command="validate", output=tmp_path / "r.xlsx"))
    rows = list(read_results(outcome.results_path))
    assert [(r.action, r.status) for r in rows] == [
        ("add", "valid"), ("update", "valid"), ("remove", "valid"), ("add", "valid"), ("update", "valid"),
        ("remove", "valid"), ("add", "valid")]


def test_a_full_name_splits_at_its_first_space_or_is_refused(tmp_path):
    path = tmp_path / "n.csv"
    path.write_text("メール,氏名,名\na@acme-corp.com,山田　太郎,\nb@acme-corp.com,山田太郎,\n"
                    "c@acme-corp.com,山田 太郎,花子\n", encoding="utf-8")
    outcome = run_job(path, JobSettings(command="validate", output=tmp_path / "r.xlsx"))
    rows = list(read_results(outcome.results_path))
    assert [r.status for r in rows] == ["valid", "invalid", "valid"]
    assert "lastName '山田', firstName '太郎'" in rows[0].reason
    assert rows[1].error_code == "unsplit-name"
    assert "split" not in rows[2].reason, "a row with its own firstName keeps it"


# -- the template in every language ----------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["en", "ko", "ja"])
def test_the_template_round_trips_through_validate(tmp_path, lang):
    path = write_template(tmp_path / f"users-{lang}.xlsx", lang=lang)
    book = openpyxl.load_workbook(path)
    users = book["Users"]
    headers = [c.value for c in users[1]]
    assert headers == [c.header(lang) for c in schema.template_columns(lang)]
    yes, no = schema.BOOL_WORDS_IN[lang]
    sources = {v.formula1 for v in users.data_validations.dataValidation}
    assert f'"{yes},{no}"' in sources and f'"{",".join(schema.ACTION_WORDS_IN[lang])}"' in sources
    if lang != "en":
        note = users["B1"].comment.text
        assert "(emailId)" in note and note != schema.BY_NAME["emailId"].full_help
        assert book["Instructions"]["A1"].value == i18n.gettext_in(lang, INSTRUCTIONS[0]) != INSTRUCTIONS[0]
    # HR fills it in: a real user in row 3, in the words of the dropdowns; the example row stays (refused)
    example = [c.value for c in users[2]]
    filled = dict(zip(headers, example, strict=True))
    filled[schema.BY_NAME["emailId"].header(lang)] = "new.hire@acme-corp.com"
    filled[schema.BY_NAME["orgUserId"].header(lang)] = "E77777"
    filled[schema.BY_NAME["isDeveloper"].header(lang)] = yes
    for col, header in enumerate(headers, start=1):
        users.cell(row=3, column=col, value=filled[header])
    book.save(path)  # openpyxl writes values, no formulas: the loader reads them as typed
    outcome = run_job(path, JobSettings(command="validate", output=tmp_path / "r.xlsx", lang=lang))
    rows = list(read_results(outcome.results_path))
    assert [(r.row, r.status, r.error_code) for r in rows] == [(2, "invalid", "template-example"), (3, "valid", "")]
    assert not outcome.summary.warnings, "every header of the template is a known column"


def test_the_csv_template_in_japanese_round_trips(tmp_path):
    import csv

    path = write_template(tmp_path / "t.csv", lang="ja")
    with open(path, encoding="utf-8-sig", newline="") as fh:
        headers, example = list(csv.reader(fh))
    assert headers[:3] == ["操作", "メールアドレス", "社員番号"] and example[0] == "追加"
    cells = dict(zip(headers, example, strict=True))
    cells["メールアドレス"] = "new.hire@acme-corp.com"
    for column in ("groups", "roles", "botTasks"):  # names need the Roles/Bots/Groups sheets a CSV cannot have
        cells[schema.BY_NAME[column].header("ja")] = ""
    with open(path, "w", encoding="utf-8-sig", newline="") as fh:
        csv.writer(fh).writerows([headers, [cells[h] for h in headers]])
    outcome = run_job(path, JobSettings(command="apply", output=tmp_path / "r.xlsx", dry_run=True))
    (row,) = read_results(outcome.results_path)
    assert (row.action, row.status) == ("add", "valid")


def test_no_module_rebinds_the_gettext_underscore():
    """``state_dir, _ = ...`` in a module that translates with ``_`` breaks every message after it."""
    for path in sorted((ROOT / "bulkprov").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        imports_it = any(isinstance(n, ast.ImportFrom) and any((a.asname or a.name) == "_" for a in n.names)
                         for n in ast.walk(tree))
        if not imports_it:
            continue
        bound = [n.lineno for n in ast.walk(tree)
                 if isinstance(n, ast.Name) and n.id == "_" and isinstance(n.ctx, ast.Store)]
        assert not bound, f"{path.relative_to(ROOT)}: `_` rebound on lines {bound}"
