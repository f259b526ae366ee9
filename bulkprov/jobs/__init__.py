"""Running a command over a file: settings, the runner, ledgered runs, stopping, webhook, history.

The library API the CLI and the page are thin layers over::

    from bulkprov.jobs import JobSettings, run_job
    outcome = run_job("users.xlsx", JobSettings(command="validate"))
"""

from bulkprov.jobs.runner import run_job, run_job_async
from bulkprov.jobs.settings import JobOutcome, JobSettings

__all__ = ["JobOutcome", "JobSettings", "run_job", "run_job_async"]
