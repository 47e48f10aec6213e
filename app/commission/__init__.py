"""Leader commissions: accrued on pickup, settled after the freeze, reversed on refund."""
