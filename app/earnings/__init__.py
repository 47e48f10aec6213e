"""Leader earnings: one ledger per leader (settled commissions, counter sales, withdrawals) and
withdrawals paid out through WeChat Pay's merchant transfer, with the monthly statement."""
