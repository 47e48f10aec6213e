"""The leader's workbench: a leader's daily work at their own pickup point, above orders."""
