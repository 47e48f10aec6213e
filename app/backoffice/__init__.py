"""The operator's back office: lists across domains (leaders, pickup points) with their day's figures."""
