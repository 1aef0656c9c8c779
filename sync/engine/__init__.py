"""The sync engine. ``sync.services`` is its public façade; nothing outside ``sync`` imports these modules.

- ``documents``: REGOS document → fact row (money rounding, attribution inputs).
- ``locate``: cheque → cash session → operating cash → stock, cached in the DB and in memory.
- ``facts``: the per-day window replace of SalesFact rows.
- ``history``: DailySalesHistory rebuilt per day from facts + mappings; Branch/Employee totals.
- ``runs``: SyncRun request (join-or-create under a gate), claim, staleness, progress.
- ``runner``: one run — the date-sorted document stream, flushed day by day.
- ``mappings``: mapping changes + audit + re-aggregation; ``discover``: Stock/User discovery.
"""
