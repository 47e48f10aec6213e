"""Reconciliation (对账): each day's WeChat Pay bills matched against our payments, refunds and
transfers, and our own ledgers checked against their balances; what disagrees is reported per
date, never corrected."""
