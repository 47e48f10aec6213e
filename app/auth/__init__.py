"""Users, WeChat login, JWT tokens and roles."""
