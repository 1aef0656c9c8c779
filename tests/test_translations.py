"""Translations: every string of ours is translated in Uzbek (Latin) and Russian, the committed .mo files
match the .po files, real pages render translated, and ``makemessages`` finds nothing new.

The .po files are read with a tiny parser (no polib in the venv); the .mo files are compared with what
Debian's ``msgfmt`` (package ``gettext``, which ``make test`` installs) builds from the .po files.
"""

from __future__ import annotations

import ast
import gettext
import html
import importlib.util
import re
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.utils import translation

from sync.models import SyncRun
from sync.regos.errors import RegosAccessError, RegosRateLimitError
from sync.services import _error_texts

BASE_DIR = Path(django_settings.BASE_DIR)
LOCALE_DIR = BASE_DIR / "locale"
LANGUAGES = ("uz", "ru")
# The documented extraction: ``manage.py makemessages -l uz -l ru --ignore=.venv --ignore=bench --ignore=tests``.
MAKEMESSAGES_IGNORE = [".venv", "bench", "tests"]


# --- a tiny .po parser ------------------------------------------------------------------------------


@dataclass
class Entry:
    msgid: str = ""
    msgid_plural: str | None = None
    msgctxt: str | None = None
    msgstr: dict[int, str] = field(default_factory=dict)
    flags: set[str] = field(default_factory=set)
    line: int = 0

    @property
    def key(self) -> tuple[str | None, str]:
        return self.msgctxt, self.msgid


def _unquote(text: str, path: Path, line: int) -> str:
    text = text.strip()
    if not (len(text) >= 2 and text[0] == text[-1] == '"'):
        raise AssertionError(f"{path}:{line}: expected a quoted string, got {text!r}")
    return ast.literal_eval(text)  # PO strings use C escapes, which Python's literal syntax covers


def parse_po(path: Path) -> tuple[dict[str, str], list[Entry]]:
    """(header fields, entries) of a .po file; obsolete ``#~`` entries are returned with flag 'obsolete'."""
    entries: list[Entry] = []
    current: Entry | None = None
    target: tuple[str, int] | None = None  # which field continuation lines extend
    pending_flags: set[str] = set()
    obsolete = False

    def finish() -> None:
        nonlocal current, pending_flags, obsolete
        if current is not None:
            entries.append(current)
        current, pending_flags, obsolete = None, set(), False

    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        line = raw.rstrip()
        if line.startswith("#~|"):
            continue
        if line.startswith("#~"):
            obsolete, line = True, line[2:].strip()
            if not line:
                continue
        if not line:
            finish()
            target = None
            continue
        if line.startswith("#,"):
            if current is not None and current.msgstr:
                finish()
            pending_flags |= {flag.strip() for flag in line[2:].split(",") if flag.strip()}
            continue
        if line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        if line.startswith('"'):
            if current is None or target is None:
                raise AssertionError(f"{path}:{number}: continuation line outside an entry")
            name, index = target
            text = _unquote(line, path, number)
            if name == "msgstr":
                current.msgstr[index] += text
            else:
                setattr(current, name, (getattr(current, name) or "") + text)
            continue
        if keyword in ("msgctxt", "msgid") and current is not None and current.msgstr:
            finish()
        if current is None:
            current = Entry(line=number, flags=set(pending_flags) | ({"obsolete"} if obsolete else set()))
        match = re.fullmatch(r"msgstr\[(\d+)\]", keyword)
        if keyword in ("msgctxt", "msgid", "msgid_plural"):
            setattr(current, keyword, _unquote(rest, path, number))
            target = (keyword, 0)
        elif keyword == "msgstr" or match:
            index = int(match[1]) if match else 0
            current.msgstr[index] = _unquote(rest, path, number)
            target = ("msgstr", index)
        else:
            raise AssertionError(f"{path}:{number}: cannot parse {raw!r}")
    finish()

    header_entries = [e for e in entries if e.msgid == "" and e.msgctxt is None]
    assert len(header_entries) == 1, f"{path}: expected exactly one header entry"
    header = {}
    for header_line in header_entries[0].msgstr[0].splitlines():
        name, _, value = header_line.partition(":")
        header[name.strip()] = value.strip()
    return header, [e for e in entries if e is not header_entries[0]]


def po_path(language: str) -> Path:
    return LOCALE_DIR / language / "LC_MESSAGES" / "django.po"


# Our translations of Django's and django-q2's own msgids (their uz catalogs lack many), in a second
# LOCALE_PATHS entry so makemessages — which only knows our code — never sees or drops them.
OVERRIDES_PO = BASE_DIR / "locale_overrides" / "uz" / "LC_MESSAGES" / "django.po"
UZ_CATALOGS = [po_path("uz"), OVERRIDES_PO]


def nplurals(header: dict[str, str]) -> int:
    match = re.search(r"nplurals\s*=\s*(\d+)", header.get("Plural-Forms", ""))
    assert match, "the .po header has no Plural-Forms"
    return int(match[1])


# %(name)s / %s / %d (not %%), {name} and HTML tags must survive translation unchanged.
_PLACEHOLDER = re.compile(
    r"%\([^)]+\)[#0 +\-]*\d*(?:\.\d+)?[sdifrx]"
    r"|%[#0 +\-]*\d*(?:\.\d+)?[sdifrx]"
    r"|\{[A-Za-z_][A-Za-z0-9_]*\}"
    r"|</?[A-Za-z][^>]*>"
)


def placeholders(text: str) -> Counter[str]:
    return Counter(_PLACEHOLDER.findall(text.replace("%%", "")))


# --- (a) every msgid translated, nothing fuzzy, placeholders kept -----------------------------------


@pytest.mark.parametrize("language", LANGUAGES)
def test_po_header_names_its_language_and_plural_forms(language: str) -> None:
    header, _entries = parse_po(po_path(language))
    assert header["Language"] == language
    assert "charset=UTF-8" in header["Content-Type"]
    assert nplurals(header) == {"uz": 1, "ru": 3}[language]


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_msgid_is_translated_and_nothing_is_fuzzy(language: str) -> None:
    header, entries = parse_po(po_path(language))
    forms = nplurals(header)
    assert len(entries) > 100, "the catalog looks truncated"
    problems = []
    for entry in entries:
        where = f"line {entry.line}: {entry.msgid!r}"
        if "obsolete" in entry.flags:
            problems.append(f"{where}: obsolete entry (run makemessages with --no-obsolete)")
        if "fuzzy" in entry.flags:
            problems.append(f"{where}: fuzzy")
        expected = list(range(forms)) if entry.msgid_plural is not None else [0]
        if sorted(entry.msgstr) != expected:
            problems.append(f"{where}: msgstr forms {sorted(entry.msgstr)}, expected {expected}")
        problems += [f"{where}: msgstr[{i}] is empty" for i, text in entry.msgstr.items() if not text.strip()]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("language", LANGUAGES)
def test_placeholders_and_markup_survive_translation(language: str) -> None:
    _header, entries = parse_po(po_path(language))
    problems = []
    for entry in entries:
        # Every plural form gets the same placeholders: Russian form 0 also serves 21, 31…, and
        # ngettext formats whichever form it picks with the same values.
        want = placeholders(entry.msgid) | placeholders(entry.msgid_plural or "")
        for index, text in entry.msgstr.items():
            got = placeholders(text)
            if got != want:
                problems.append(f"line {entry.line}: {entry.msgid!r} [{index}]: {dict(got)} != {dict(want)}")
    assert not problems, "\n".join(problems)


def uzbek_apostrophe_problems(text: str) -> list[str]:
    """What is wrong with the apostrophes of one Uzbek msgstr (Latin script as printed: Oʻzbekcha, maʼlumot)."""
    problems = []
    if re.search(r"[\u0400-\u04FF]", text):
        problems.append("Cyrillic")
    if re.search("['\u2018\u2019`]", text):
        problems.append("ASCII or typographic apostrophe: write oʻ/gʻ with U+02BB, the tutuq belgisi with U+02BC")
    if re.search(r"[OoGg]\u02BC", text):
        problems.append("oʻ/gʻ take U+02BB (ʻ), not U+02BC")
    if re.search(r"[^\W\d_OoGg]\u02BB", text):
        problems.append("the tutuq belgisi takes U+02BC (ʼ), not U+02BB")
    return problems


@pytest.mark.parametrize(
    ("text", "wanted"),
    [
        ("Oʻzbekcha, Bogʻlanishlar, maʼlumot", []),
        ("O'zbekcha", ["ASCII"]),
        ("Bog‘lanishlar", ["ASCII"]),
        ("Boʼyicha", ["U+02BB"]),
        ("maʻlumot", ["U+02BC"]),
        ("Ўзбекча", ["Cyrillic"]),
    ],
)
def test_the_apostrophe_rule_itself(text: str, wanted: list[str]) -> None:
    found = uzbek_apostrophe_problems(text)
    assert len(found) == len(wanted) and all(w in f for w, f in zip(wanted, found, strict=True)), found


@pytest.mark.parametrize("path", UZ_CATALOGS, ids=lambda p: str(p.relative_to(BASE_DIR)))
def test_uzbek_is_latin_script_with_the_letters_own_apostrophes(path: Path) -> None:
    _header, entries = parse_po(path)
    problems = [
        f"line {entry.line}: {problem} in {text!r}"
        for entry in entries
        for text in entry.msgstr.values()
        for problem in uzbek_apostrophe_problems(text)
    ]
    assert not problems, "run scripts/uz_apostrophes.py:\n" + "\n".join(problems)


def test_the_apostrophe_script_converts_and_is_idempotent() -> None:
    spec = importlib.util.spec_from_file_location("uz_apostrophes", BASE_DIR / "scripts" / "uz_apostrophes.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    source = (
        'msgid "Uzbek"\nmsgstr "O\'zbekcha"\n\n'
        'msgid "Data on \'%(name)s\'"\nmsgstr ""\n"Ma\'lumot bog`lanish "\n"\'%(name)s\' bo’yicha"\n'
    )
    once = module.convert_po(source)
    assert once == (
        'msgid "Uzbek"\nmsgstr "Oʻzbekcha"\n\n'
        'msgid "Data on \'%(name)s\'"\nmsgstr ""\n"Maʼlumot bogʻlanish "\n"«%(name)s» boʻyicha"\n'
    )
    assert module.convert_po(once) == once


# --- (a2) the third-party overrides translate msgids that Django or django-q2 really use ------------


def third_party_msgids() -> set[tuple[str | None, str]]:
    """(msgctxt, msgid) of every message in the installed Django and django-q2 catalogs (their en/ru .po)."""
    import django
    import django_q

    roots = [Path(django.__file__).parent, Path(django_q.__file__).parent]
    keys: set[tuple[str | None, str]] = set()
    for root in roots:
        for language in ("en", "ru"):
            for path in root.glob(f"**/locale/{language}/LC_MESSAGES/django.po"):
                keys |= {entry.key for entry in parse_po(path)[1]}
    return keys


def test_overrides_only_translate_third_party_msgids_completely() -> None:
    header, entries = parse_po(OVERRIDES_PO)
    assert header["Language"] == "uz" and nplurals(header) == 1
    known = third_party_msgids()
    assert ("", "Show counts") not in known and (None, "Show counts") in known  # the keys are what we think
    problems = [f"line {e.line}: {e.msgid!r} is not a Django or django-q2 msgid" for e in entries if e.key not in known]
    problems += [f"line {e.line}: {e.msgid!r} untranslated" for e in entries if not all(e.msgstr.values())]
    problems += [
        f"line {e.line}: {e.msgid!r} placeholders differ"
        for e in entries
        if placeholders(e.msgstr[0]) != placeholders(e.msgid) | placeholders(e.msgid_plural or "")
    ]
    ours = {e.key for e in parse_po(po_path("uz"))[1]}
    problems += [f"line {e.line}: {e.msgid!r} is in locale/ too: keep one" for e in entries if e.key in ours]
    assert not problems, "\n".join(problems)


# Django admin and django-q2 strings a uz reader met in English before the overrides (issue 18).
@pytest.mark.parametrize(
    ("msgid", "uzbek"),
    [
        ("Show counts", "Sonini koʻrsatish"),
        ("Start typing to filter…", "Filtrlash uchun yozishni boshlang…"),
        ("Go", "Bajarish"),
        ("Successful tasks", "Muvaffaqiyatli vazifalar"),
        ("Failed tasks", "Muvaffaqiyatsiz vazifalar"),
        ("Scheduled tasks", "Rejalashtirilgan vazifalar"),
        ("Queued tasks", "Navbatdagi vazifalar"),
        ("Changed:", "Oʻzgartirildi:"),
        ("Added:", "Qoʻshildi:"),
        ("users", "foydalanuvchilar"),
        ("username", "foydalanuvchi nomi"),
    ],
)
def test_django_and_django_q_strings_are_uzbek(msgid: str, uzbek: str) -> None:
    with translation.override("uz"):
        assert translation.gettext(msgid) == uzbek
    with translation.override("ru"):  # Russian still comes from Django's and django-q2's own catalogs
        assert translation.gettext(msgid) != uzbek


# --- (b) the committed .mo files are compiled from the committed .po files --------------------------


def _catalog(mo: Path) -> gettext.GNUTranslations:
    with mo.open("rb") as handle:
        return gettext.GNUTranslations(handle)


@pytest.mark.parametrize("po", [po_path(language) for language in LANGUAGES] + [OVERRIDES_PO], ids=str)
def test_committed_mo_matches_the_po(po: Path, tmp_path: Path) -> None:
    msgfmt = shutil.which("msgfmt")
    assert msgfmt, "msgfmt not found: install Debian's gettext (make test does)"
    fresh = tmp_path / "django.mo"
    subprocess.run([msgfmt, "--check-format", "-o", str(fresh), str(po)], check=True)
    committed_mo = po.with_suffix(".mo")
    assert committed_mo.exists(), f"{committed_mo} is missing: run manage.py compilemessages"
    committed, expected = _catalog(committed_mo), _catalog(fresh)
    # The header ("" key) carries POT-Creation-Date, which makemessages bumps on every run: compare
    # the messages and the plural rule, not the timestamp.
    messages = {k: v for k, v in committed._catalog.items() if k != ""}  # noqa: SLF001
    wanted = {k: v for k, v in expected._catalog.items() if k != ""}  # noqa: SLF001
    assert messages == wanted, f"{committed_mo} is stale: run manage.py compilemessages --ignore=.venv"
    assert [committed.plural(n) for n in range(200)] == [expected.plural(n) for n in range(200)]


# --- (c) real pages render translated --------------------------------------------------------------

# page -> (msgid, {language: translation}); each msgid is shown on that page.
PAGES = {
    "/": ("Control panel", {"ru": "Панель управления", "uz": "Boshqaruv paneli"}),
    "/reports/history/": ("Sales history", {"ru": "История продаж", "uz": "Savdo tarixi"}),
    "/reports/summary/": ("Monthly summary", {"ru": "Месячная сводка", "uz": "Oylik hisobot"}),
    "/sync/now/": ("Sync now", {"ru": "Синхронизировать сейчас", "uz": "Hozir sinxronlash"}),
    "/sync/mappings/": ("Refresh from REGOS", {"ru": "Обновить из REGOS", "uz": "REGOS dan yangilash"}),
}


def page_text(client, url: str, language: str) -> str:  # noqa: ANN001
    client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = language
    response = client.get(url)
    assert response.status_code == 200, f"{url}: {response.status_code}"
    assert response.headers["Content-Language"] == language
    return html.unescape(response.content.decode())


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("url", list(PAGES))
def test_pages_render_translated(client, admin_user, url: str, language: str) -> None:  # noqa: ANN001
    client.force_login(admin_user)
    text = page_text(client, url, language)
    msgid, translated = PAGES[url]
    assert translated[language] in text
    assert msgid not in text
    assert f'lang="{language}"' in text


@pytest.mark.parametrize("url", list(PAGES))
def test_pages_in_english_show_the_source_strings(client, admin_user, url: str) -> None:  # noqa: ANN001
    """The counter-check: the strings above are really on these pages (else the test proves nothing)."""
    client.force_login(admin_user)
    text = page_text(client, url, "en")
    msgid, translated = PAGES[url]
    assert msgid in text
    assert translated["ru"] not in text and translated["uz"] not in text


def test_accept_language_alone_switches_to_russian(client, admin_user) -> None:  # noqa: ANN001
    client.force_login(admin_user)
    response = client.get("/reports/history/", HTTP_ACCEPT_LANGUAGE="ru")
    assert "История продаж" in response.content.decode()


# --- (d) a stored English hint is shown translated -------------------------------------------------


def failed_run(hint: str) -> SyncRun:
    return SyncRun.objects.create(
        trigger=SyncRun.Trigger.SCHEDULE,
        date_from=date(2026, 11, 20),
        date_to=date(2026, 11, 22),
        days_total=3,
        status=SyncRun.Status.FAILED,
        error="DocCheque/Get: access denied",
        error_hint=hint,
    )


def test_a_failed_runs_hint_is_stored_in_english_and_shown_in_russian(client, admin_user) -> None:  # noqa: ANN001
    with translation.override("ru"):  # whatever language the worker runs in, the msgid is stored
        _error, hint, _code = _error_texts(RegosAccessError("DocCheque/Get: access denied", code=1096))
    with translation.override(None):
        assert hint == str(RegosAccessError.hint)
    run = failed_run(hint)
    client.force_login(admin_user)
    text = page_text(client, f"/sync/runs/{run.pk}/", "ru")
    assert "Ключ REGOS отклонён: проверьте REGOS_INTEGRATION_KEY и права пользователя интеграции." in text
    assert hint not in text
    uz = page_text(client, f"/sync/runs/{run.pk}/", "uz")
    assert "REGOS kaliti rad etildi" in uz and hint not in uz


@pytest.mark.parametrize(
    ("attempts", "russian"),
    [(1, "Выполнен 1 повтор."), (3, "Выполнено 3 повтора."), (5, "Выполнено 5 повторов.")],
)
def test_a_rate_limit_hint_gets_the_russian_plural(client, admin_user, attempts: int, russian: str) -> None:  # noqa: ANN001
    _error, hint, _code = _error_texts(RegosRateLimitError("DocCheque/Get: 8213", attempts=attempts))
    run = failed_run(hint)
    client.force_login(admin_user)
    text = page_text(client, f"/sync/runs/{run.pk}/", "ru")
    limit = "Лимит запросов REGOS: возможно, этот же ключ использует другая программа. Попробуйте позже."
    assert f"{limit} {russian}" in text
    assert "Try again later" not in text
    uz = page_text(client, f"/sync/runs/{run.pk}/", "uz")
    assert f"{attempts} marta qayta urinildi." in uz


# --- (e) makemessages finds nothing new ------------------------------------------------------------


def test_makemessages_finds_no_new_or_stale_msgids(tmp_path: Path, settings, monkeypatch) -> None:  # noqa: ANN001
    """Extract from a copy of the sources into a copy of locale/: the .po files must come out unchanged
    (same msgids, same translations, nothing new, nothing fuzzy) — else run makemessages and translate."""
    for tool in ("xgettext", "msgmerge", "msguniq"):
        assert shutil.which(tool), f"{tool} not found: install Debian's gettext (make test does)"
    root = (tmp_path / "project").resolve()
    # Templates are pre-processed into files next to them, so work on a copy, never on the tree.
    shutil.copytree(
        BASE_DIR,
        root,
        symlinks=True,
        ignore=shutil.ignore_patterns(".*", "__pycache__", "*.sqlite3*", "node_modules", *MAKEMESSAGES_IGNORE),
    )
    monkeypatch.chdir(root)
    settings.LOCALE_PATHS = [str(root / "locale")]
    call_command(
        "makemessages",
        locale=list(LANGUAGES),
        ignore_patterns=MAKEMESSAGES_IGNORE,
        no_obsolete=True,
        verbosity=0,
    )
    problems = []
    for language in LANGUAGES:
        _h, committed = parse_po(po_path(language))
        _h, extracted = parse_po(root / "locale" / language / "LC_MESSAGES" / "django.po")
        have = {e.key: (e.msgid_plural, e.msgstr) for e in committed}
        found = {e.key: (e.msgid_plural, e.msgstr) for e in extracted}
        problems += [f"{language}: new msgid {key[1]!r}" for key in found.keys() - have.keys()]
        problems += [f"{language}: msgid no longer in the code {key[1]!r}" for key in have.keys() - found.keys()]
        problems += [
            f"{language}: {key[1]!r} changed by makemessages"
            for key in found.keys() & have.keys()
            if found[key] != have[key]
        ]
        problems += [f"{language}: fuzzy after merge {e.msgid!r}" for e in extracted if "fuzzy" in e.flags]
    assert not problems, "run makemessages (see the module doc) and translate:\n" + "\n".join(problems)


# --- (f) one date format per language; list titles that read right in Russian ----------------------


@pytest.mark.parametrize(
    ("language", "day", "moment", "month_day"),
    [
        ("uz", "05.12.2026", "05.12.2026 09:07", "05.12"),
        ("ru", "05.12.2026", "05.12.2026 09:07", "05.12"),
        ("en", "2026-12-05", "2026-12-05 09:07", "12-05"),
    ],
)
def test_one_date_format_per_language(language: str, day: str, moment: str, month_day: str) -> None:
    from datetime import datetime

    from django.utils.formats import date_format

    when = datetime(2026, 12, 5, 9, 7)
    with translation.override(language):
        # The long names (admin lists) and the short ones (our pages) give the same text.
        assert {date_format(when.date(), name) for name in ("DATE_FORMAT", "SHORT_DATE_FORMAT")} == {day}
        assert {date_format(when, name) for name in ("DATETIME_FORMAT", "SHORT_DATETIME_FORMAT")} == {moment}
        assert date_format(when.date(), "MONTH_DAY_FORMAT") == month_day  # chart axis, admin date hierarchy


def test_validation_messages_write_dates_like_the_tables(client, admin_user) -> None:  # noqa: ANN001
    client.force_login(admin_user)
    client.cookies[django_settings.LANGUAGE_COOKIE_NAME] = "ru"
    response = client.get("/reports/history/?date_from=1999-12-31")
    assert response.status_code == 400  # a bad filter is a clear error, not a 500
    text = html.unescape(response.content.decode())
    assert "Введите дату от 01.01.2000 до 31.12.2100." in text


def test_admin_list_titles_are_the_plural_name_not_a_wrongly_declined_sentence(client, admin_user) -> None:  # noqa: ANN001
    client.force_login(admin_user)
    ru = page_text(client, "/sync/syncrun/", "ru")
    assert "<h1>Синхронизации</h1>" in ru and "Выберите" not in ru
    users = page_text(client, "/auth/user/", "ru")
    assert "<h1>Пользователи</h1>" in users and "Выберите" not in users
    uz = page_text(client, "/auth/user/", "uz")
    assert "<h1>Foydalanuvchilar</h1>" in uz


def test_django_and_django_q_uzbek_never_shows_an_ascii_apostrophe() -> None:
    """Django's own uz catalogs write Qo'shish, O'zgartirish…: every msgid they translate must come out
    with ʻ/ʼ once our catalogs are merged in (locale_overrides re-spells them)."""
    import django
    import django_q

    keys = set()
    for root in (Path(django.__file__).parent, Path(django_q.__file__).parent):
        for path in root.glob("**/locale/uz/LC_MESSAGES/django.po"):
            keys |= {(e.msgctxt, e.msgid, e.msgid_plural) for e in parse_po(path)[1] if e.msgid}
    current = third_party_msgids()  # their uz catalogs still carry msgids this Django no longer uses
    keys = {key for key in keys if key[:2] in current}
    assert len(keys) > 300
    wrong = []
    with translation.override("uz"):
        for context, msgid, plural in keys:
            if plural is not None:
                text = (translation.npgettext(context, msgid, plural, 2) if context
                        else translation.ngettext(msgid, plural, 2))
            else:
                text = translation.pgettext(context, msgid) if context else translation.gettext(msgid)
            if re.search("['\u2018\u2019`]", text) and text != msgid:
                wrong.append(f"{msgid!r} -> {text!r}")
    assert not wrong, "\n".join(sorted(wrong))
