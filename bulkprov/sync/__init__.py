"""plan and sync: the diff and its guards (plan), the plan workbook, and the sync strategy (run)."""
