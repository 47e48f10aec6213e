"""Orders: cut-off rule, stock taking, expiry, pickup codes and the order state machine."""
