"""The sandbox (可用不可见, issue 16 item 3): aggregate-only queries with k-anonymous groups,
a per-day bound on overlapping queries, differentially private releases against a privacy
budget, and an export that re-checks a release before it leaves."""
