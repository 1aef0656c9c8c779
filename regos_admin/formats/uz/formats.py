"""Uzbek: one date format everywhere — tables, admin lists and filters, chart axes, validation messages.

The long forms (DATE_FORMAT, DATETIME_FORMAT) are the short ones so that admin lists (which use the long
names) and our pages (which use the short ones) agree; the axis and admin date-hierarchy days use the
same order without the year.
"""

DATE_FORMAT = SHORT_DATE_FORMAT = "d.m.Y"
DATETIME_FORMAT = SHORT_DATETIME_FORMAT = "d.m.Y H:i"
TIME_FORMAT = "H:i"
MONTH_DAY_FORMAT = "d.m"
