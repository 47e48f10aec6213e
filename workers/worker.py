"""Entry point for an RQ worker process (`python -m workers.worker`, same as `linli worker`).

The process code lives in app/worker.py: imports go workers → app, never back."""
from app.worker import run_worker

if __name__ == "__main__":
    run_worker()
