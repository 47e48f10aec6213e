"""Entry point for the one scheduler process (`python -m workers.scheduler`, same as
`linli scheduler`). The process code lives in app/scheduler.py: imports go workers → app."""
from app.scheduler import run_scheduler

if __name__ == "__main__":
    run_scheduler()
