"""The credit economy on top of the ledger: allowances, tiers, limits and usage reports."""
