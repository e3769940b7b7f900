from tests.conftest import wait_until
from gifting_jobs.dispatch import enqueue
from tests.jobapp.models import Execution


def test_enqueue__runs_on_worker(worker):
    job = enqueue("test_record", {"key": "a", "triggered_by": "manual"}, {})
    assert job.outcome == "sent"
    wait_until(lambda: Execution.objects.filter(key="a").count() == 1)
    dup = enqueue("test_record", {"key": "a", "triggered_by": "manual"}, {})
    print(dup)
