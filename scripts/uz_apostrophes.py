"""Write Uzbek (Latin) msgstr with the letters' own apostrophes: ʻ (U+02BB) in oʻ/gʻ, ʼ (U+02BC) for the
tutuq belgisi (maʼlumot), as Uzbek Latin is printed (Oʻzbekcha, Bogʻlanishlar).

Only msgstr lines of the uz catalogs are rewritten (msgids, comments and other languages are left alone),
so it can be re-run after merging branches that add uz strings typed with ASCII ' ‘ ’ or `:

    python scripts/uz_apostrophes.py          # rewrite in place, then run compilemessages
    python scripts/uz_apostrophes.py --check  # exit 1 if a file would change (nothing written)

Idempotent: a converted catalog comes out byte-identical. An apostrophe that is not between letters
(a quote around a name) becomes a typographic quote « », so no ASCII ' is left in any uz msgstr.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
CATALOGS = [BASE_DIR / "locale" / "uz" / "LC_MESSAGES" / "django.po"]
CATALOGS += sorted((BASE_DIR / "locale_overrides").glob("uz/LC_MESSAGES/*.po"))

OKINA = "\u02bb"  # ʻ  modifier letter turned comma: oʻ, gʻ
TUTUQ = "\u02bc"  # ʼ  modifier letter apostrophe: tutuq belgisi
_ANY = "'\u2018\u2019`\u02bb\u02bc"
# A letter, then any apostrophe-like mark, then a letter. Placeholders such as %(name)s stay untouched
# because they contain no apostrophe.
_LETTER = r"[^\W\d_]"
_O_G = re.compile(rf"([OoGg])[{_ANY}](?={_LETTER})")
_INNER = re.compile(rf"({_LETTER})['\u2018\u2019`](?={_LETTER})")
# Left over: ASCII quotes around words ('Sync now') → « ».
_QUOTED = re.compile(r"'([^'\n]+)'")


def convert_text(text: str) -> str:
    text = _O_G.sub(lambda m: m[1] + OKINA, text)
    text = _INNER.sub(lambda m: m[1] + TUTUQ, text)
    return _QUOTED.sub(lambda m: f"«{m[1]}»", text)


_STRING = re.compile(r'"((?:[^"\\]|\\.)*)"')


def convert_po(source: str) -> str:
    out = []
    in_msgstr = False
    for line in source.splitlines(keepends=True):
        stripped = line.lstrip()
        if stripped.startswith(("msgstr", "#~ msgstr")):
            in_msgstr = True
        elif stripped.startswith(("msgid", "msgctxt", "#")) or not stripped.strip():
            in_msgstr = False
        if in_msgstr:
            line = _STRING.sub(lambda m: '"' + convert_text(m[1]) + '"', line)
        out.append(line)
    return "".join(out)


def _header_safe(path: Path, text: str) -> str:
    # The header entry is a msgstr too; its fields ("Last-Translator: …") never hold Uzbek words, but keep
    # it exactly as it was rather than reason about it.
    original = path.read_text(encoding="utf-8")
    head_end = original.find("\n\n")
    new_head_end = text.find("\n\n")
    return original[:head_end] + text[new_head_end:]


def main(argv: list[str]) -> int:
    check = "--check" in argv
    changed = []
    for path in CATALOGS:
        original = path.read_text(encoding="utf-8")
        converted = _header_safe(path, convert_po(original))
        if converted != original:
            changed.append(path)
            if not check:
                path.write_text(converted, encoding="utf-8")
    for path in changed:
        print(f"{'would rewrite' if check else 'rewrote'} {path.relative_to(BASE_DIR)}")
    return 1 if check and changed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
