"""The wallet (储值): buyers' stored value kept as principal and bonus with a chained ledger,
recharge packages and recharges, member levels from growth, and the pay code used at a leader's
counter."""
