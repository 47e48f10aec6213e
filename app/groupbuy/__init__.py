"""Group-buy (拼团): campaigns, groups that fill with paid members, and their success or failure at the deadline."""
