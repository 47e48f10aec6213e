"""The background processes: RQ workers and the single periodic-job scheduler."""
