"""What any `django.tasks` backend owes its callers, checked against `SpineTaskBackend` with a real worker.

The behaviours are those Django's `tests/tasks` and the django-tasks backport
check of every backend (validation, result states, refresh, signals, errors);
the README maps each upstream case to the test here that covers it.
"""

from __future__ import annotations

import dataclasses
import logging
import pickle
from datetime import datetime, timedelta

import pytest
from asgiref.sync import async_to_sync
from django.tasks import TaskResultStatus, default_task_backend, task, task_backends
from django.tasks.exceptions import InvalidTask, TaskResultDoesNotExist, TaskResultMismatch
from django.test import override_settings
from django.utils import timezone

from gifting_jobs.tasks.backend import SpineTaskBackend
from tests.conftest import wait_until
from tests.integration.tasks import tasks as test_tasks

pytestmark = pytest.mark.django_db(transaction=True)


def finished(result):
    """Poll helper: refresh the result and say whether it is over."""
    result.refresh()
    return result.is_finished


def run_until_finished(start_worker, *results):
    start_worker()
    for result in results:
        wait_until(lambda r=result: finished(r), what=f"task {result.task.name} to finish")


# -- The backend and its flags ---------------------------------------------------------------


def test_backend__is_the_configured_default_with_every_capability():
    assert default_task_backend is task_backends["default"] or default_task_backend == task_backends["default"]
    backend = task_backends["default"]
    assert isinstance(backend, SpineTaskBackend)
    assert backend.alias == "default" and backend.queues == {"default", "reports"} and backend.options == {}
    assert (
        backend.supports_defer,
        backend.supports_async_task,
        backend.supports_get_result,
        backend.supports_priority,
    ) == (True, True, True, True)


def test_check__a_good_configuration_has_no_errors():
    assert task_backends["default"].check() == []


@override_settings(
    TASKS={
        "default": {
            "BACKEND": "gifting_jobs.tasks.backend.SpineTaskBackend",
            "QUEUES": ["default", "Bad Queue"],
            "OPTIONS": {"ATTEMPT": 3, "ATTEMPTS": 0},
        }
    }
)
def test_check__names_each_configuration_error_and_its_fix():
    errors = task_backends["default"].check()

    by_id = {error.id: error for error in errors}
    assert set(by_id) == {"gifting_jobs.E041", "gifting_jobs.E042", "gifting_jobs.E043"}
    assert "'Bad Queue'" in by_id["gifting_jobs.E041"].msg
    assert by_id["gifting_jobs.E042"].hint == "Did you mean 'ATTEMPTS'?"
    assert "1 to 100" in by_id["gifting_jobs.E043"].hint


# -- Validation at declaration and enqueue ------------------------------------------------------


@pytest.mark.parametrize("priority", [101, -101, 1.5])
def test_validation__priority_must_be_a_whole_number_in_range(priority):
    with pytest.raises(InvalidTask, match="priority must be a whole number between -100 and 100"):
        test_tasks.noop_task.using(priority=priority)


def test_validation__run_after_must_be_aware():
    with pytest.raises(InvalidTask, match="run_after must be an aware datetime"):
        test_tasks.noop_task.using(run_after=datetime(2030, 1, 1))


def test_validation__run_after_cannot_be_set_on_the_decorator():
    with pytest.raises(TypeError, match="run_after cannot be defined statically"):
        task(run_after=timezone.now())(test_tasks.noop_task.func)


def test_validation__queue_must_be_one_of_the_backend_queues():
    with pytest.raises(InvalidTask, match="Queue 'elsewhere' is not valid for backend"):
        test_tasks.noop_task.using(queue_name="elsewhere")
    assert test_tasks.noop_task.using(queue_name="reports").queue_name == "reports"


def test_validation__only_module_level_functions():
    def inner() -> None:
        pass

    with pytest.raises(InvalidTask, match="module level"):
        task(inner)
    with pytest.raises(InvalidTask, match="module level"):
        task(lambda: None)


def test_validation__takes_context_needs_a_context_argument():
    with pytest.raises(InvalidTask, match="first argument of 'context'"):
        task(takes_context=True)(test_tasks.noop_task.func)


def test_validation__arguments_must_be_json():
    with pytest.raises(TypeError, match="Unsupported type"):
        test_tasks.noop_task.enqueue(object())
    with pytest.raises(TypeError):
        test_tasks.noop_task.enqueue(when=timezone.now())


def test_using__returns_a_copy_and_leaves_the_task_alone():
    now = timezone.now()
    urgent = test_tasks.noop_task.using(priority=50, queue_name="reports")
    chained = urgent.using(run_after=now)

    assert (urgent.priority, urgent.queue_name) == (50, "reports")
    assert (chained.priority, chained.queue_name, chained.run_after) == (50, "reports", now)
    assert (test_tasks.noop_task.priority, test_tasks.noop_task.queue_name) == (0, "default")
    assert (
        test_tasks.noop_task.using() == test_tasks.noop_task
        and test_tasks.noop_task.using() is not test_tasks.noop_task
    )


def test_pickle__tasks_and_results_survive_a_round_trip():
    keyed = test_tasks.echo.using(idempotency_key="pickled")
    result = keyed.enqueue("x")

    assert pickle.loads(pickle.dumps(keyed)) == keyed
    assert pickle.loads(pickle.dumps(result)) == result


# -- Enqueue and the READY result -------------------------------------------------------------


@pytest.mark.parametrize("the_task", [test_tasks.noop_task, test_tasks.noop_task_async], ids=["sync", "async"])
def test_enqueue__returns_a_ready_result(the_task):
    result = the_task.enqueue(1, two=(3, 4))

    assert result.status == TaskResultStatus.READY and not result.is_finished
    assert result.enqueued_at is not None
    assert (result.started_at, result.last_attempted_at, result.finished_at) == (None, None, None)
    with pytest.raises(ValueError, match="Task has not finished yet"):
        _ = result.return_value
    assert result.task == the_task
    assert (result.args, result.kwargs) == ([1], {"two": [3, 4]})
    assert (result.attempts, result.errors, result.worker_ids, result.backend) == (0, [], [], "default")


def test_aenqueue__returns_a_ready_result():
    result = async_to_sync(test_tasks.noop_task.aenqueue)("a")

    assert result.status == TaskResultStatus.READY and result.args == ["a"]
    assert default_task_backend.get_result(result.id) == result


def test_get_result__equals_the_enqueued_result_sync_and_async():
    result = test_tasks.echo.using(priority=20).enqueue("x", y=1)

    assert default_task_backend.get_result(result.id) == result
    assert async_to_sync(default_task_backend.aget_result)(result.id) == result
    assert test_tasks.echo.get_result(result.id).task.priority == 20


@pytest.mark.parametrize("result_id", ["0" * 32, "123", "not a result id at all"])
def test_get_result__unknown_ids_do_not_exist(result_id):
    with pytest.raises(TaskResultDoesNotExist):
        default_task_backend.get_result(result_id)
    with pytest.raises(TaskResultDoesNotExist):
        async_to_sync(default_task_backend.aget_result)(result_id)


def test_get_result__through_another_task_is_a_mismatch():
    result = test_tasks.noop_task.enqueue()

    with pytest.raises(TaskResultMismatch, match="noop_task"):
        test_tasks.echo.get_result(result.id)
    with pytest.raises(TaskResultMismatch):
        async_to_sync(test_tasks.echo.aget_result)(result.id)


# -- Running: results, refresh, errors ---------------------------------------------------------


def test_refresh__of_a_result_nothing_ran_changes_nothing():
    result = test_tasks.noop_task.enqueue()
    before = dataclasses.asdict(result)

    result.refresh()
    assert dataclasses.asdict(result) == before
    async_to_sync(result.arefresh)()
    assert dataclasses.asdict(result) == before


def test_refresh__sees_the_worker_finish(start_worker):
    result = default_task_backend.enqueue(test_tasks.calculate_meaning_of_life, (), {})
    start_worker()

    wait_until(lambda: finished(result), what="the task to finish")

    assert result.status == TaskResultStatus.SUCCESSFUL and result.return_value == 42
    assert result.enqueued_at <= result.started_at <= result.last_attempted_at <= result.finished_at
    assert result.attempts == 1 and len(result.worker_ids) == 1 and result.errors == []


def test_arefresh__sees_the_worker_finish(start_worker):
    result = async_to_sync(default_task_backend.aenqueue)(test_tasks.calculate_meaning_of_life_async, (), {})
    start_worker()

    def async_finished():
        async_to_sync(result.arefresh)()
        return result.is_finished

    wait_until(async_finished, what="the async task to finish")
    assert (result.status, result.return_value) == (TaskResultStatus.SUCCESSFUL, 42)


def test_run__arguments_arrive_as_json(start_worker):
    result = test_tasks.echo.enqueue(1, "two", [3], four={"five": 5})
    run_until_finished(start_worker, result)

    assert result.return_value == {"args": [1, "two", [3]], "kwargs": {"four": {"five": 5}}}


@override_settings(
    TASKS={
        "default": {
            "BACKEND": "gifting_jobs.tasks.backend.SpineTaskBackend",
            "QUEUES": ["default", "reports"],
            "OPTIONS": {"ATTEMPTS": 2},
        }
    }
)
def test_run__an_exception_fails_the_task_with_its_class_and_traceback(start_worker, fast_retries):
    result = test_tasks.failing_value_error.enqueue()
    run_until_finished(start_worker, result)

    assert result.status == TaskResultStatus.FAILED and result.is_finished
    with pytest.raises(ValueError, match="Task failed"):
        _ = result.return_value
    assert result.enqueued_at <= result.started_at <= result.finished_at
    # ValueError is transient to the spine: both attempts ran, each left its error.
    assert result.attempts == 2 and len(result.errors) == 2
    assert result.errors[0].exception_class is ValueError
    assert result.errors[-1].traceback.endswith("ValueError: This task failed due to ValueError\n")


def test_run__a_nested_exception_is_kept_whole(start_worker, fast_retries):
    result = test_tasks.complex_exception.enqueue()
    run_until_finished(start_worker, result)

    assert result.status == TaskResultStatus.FAILED and result._return_value is None
    assert result.errors[0].exception_class is ValueError
    assert 'ValueError(ValueError("This task failed"))' in result.errors[0].traceback


def test_run__a_return_value_json_cannot_hold_fails_the_task(start_worker):
    result = test_tasks.complex_return_value.enqueue()
    run_until_finished(start_worker, result)

    assert result.status == TaskResultStatus.FAILED and result._return_value is None
    assert result.errors[0].exception_class is TypeError and result.attempts == 1


def test_run__takes_context_sees_its_result_and_attempt(start_worker, fast_retries):
    result = test_tasks.flaky_with_context.enqueue(fail_until=2)
    run_until_finished(start_worker, result)

    assert result.return_value == {"attempt": 2, "result_id": result.id}
    assert result.attempts == 2 and [e.exception_class_path for e in result.errors] == [
        "gifting_jobs.exceptions.TransientJobError"
    ]


def test_run__queues_are_kept_apart_and_both_run(start_worker):
    default = test_tasks.echo.enqueue("default")
    report = test_tasks.urgent_report.enqueue("q")
    run_until_finished(start_worker, default, report)

    assert (default.task.queue_name, report.task.queue_name) == ("default", "reports")
    assert (default.return_value["args"], report.return_value) == (["default"], "report q")


def test_run__run_after_is_respected(start_worker):
    run_after = timezone.now() + timedelta(seconds=1)
    result = test_tasks.calculate_meaning_of_life.using(run_after=run_after).enqueue()
    assert default_task_backend.get_result(result.id).task.run_after == run_after

    run_until_finished(start_worker, result)
    assert result.started_at >= run_after and result.return_value == 42


# -- Signals and logs -------------------------------------------------------------------------


def test_signals__enqueued_started_finished_in_order(start_worker, signals):
    result = test_tasks.calculate_meaning_of_life.enqueue()
    assert signals == [("enqueued", result.id, "READY")]

    run_until_finished(start_worker, result)
    wait_until(lambda: len(signals) == 3, what="the finished signal")
    assert signals == [
        ("enqueued", result.id, "READY"),
        ("started", result.id, "RUNNING"),
        ("finished", result.id, "SUCCESSFUL"),
    ]


def test_signals__a_failed_task_finishes_failed(start_worker, signals):
    result = test_tasks.failing_for_good.enqueue("no")
    run_until_finished(start_worker, result)

    wait_until(lambda: len(signals) == 3, what="the finished signal")
    assert [(name, status) for name, _, status in signals] == [
        ("enqueued", "READY"),
        ("started", "RUNNING"),
        ("finished", "FAILED"),
    ]


def test_logs__django_tasks_logs_the_enqueue_and_the_states(start_worker, caplog):
    with caplog.at_level(logging.DEBUG, logger="django.tasks"):
        result = test_tasks.noop_task.enqueue()
        run_until_finished(start_worker, result)
        wait_until(lambda: any("state=SUCCESSFUL" in m for m in caplog.messages), what="the finished log")

    lines = [m for m in caplog.messages if result.id in m]
    assert "enqueued" in lines[0]
    assert any("state=RUNNING" in m for m in lines) and any("state=SUCCESSFUL" in m for m in lines)
