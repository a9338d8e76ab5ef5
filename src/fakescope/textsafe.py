"""Text that leaves fakescope for another program: spreadsheet cells.

A CSV cell that starts with ``=``, ``+``, ``-``, ``@`` (or a tab / carriage return) is read as a formula by
spreadsheet programs, so a file named ``=HYPERLINK(…)`` would run in the reader's spreadsheet (CSV/formula
injection, OWASP). :func:`csv_cell` prefixes such text with an apostrophe, which spreadsheets show as
text. Numbers are left as they are. Written by hand: the standard ``csv`` module has no such option.
"""

from __future__ import annotations

__all__ = ["csv_cell", "csv_row"]

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value):
    """``value`` as a CSV cell that a spreadsheet shows as text (strings only; other values unchanged)."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def csv_row(row: dict) -> dict:
    return {k: csv_cell(v) for k, v in row.items()}
