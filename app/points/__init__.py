"""Points (积分): a ledger of movements, each tied to its order and made once, and a balance that
never goes below zero (one conditional UPDATE and a CHECK). 1 point = 1 fen."""
