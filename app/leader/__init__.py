"""Leader applications, their approval, and leaders themselves."""
