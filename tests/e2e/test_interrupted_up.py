"""A killed `up` under `PULUMI_SKIP_CHECKPOINTS`: the next `up` converges, with nothing duplicated.

With the intermediate checkpoints skipped, an `up` that dies midway leaves the state as it was before
it started, while the registry already holds part of its writes. The next `up` then creates again
what the dead one created: it converges only if every create is idempotent (RegisteredModel, Role
and ModelPermissions adopt, ModelMetadata applies the difference from what the model holds). This
kills the real engine's `up` (the CLI's process group, then the language host and the provider,
which the engine starts in groups of their own, as a machine that dies takes them all) once it has
sent some writes, removes the lock it left (`pulumi cancel`), then checks that the next `up`
succeeds, that the registry holds each role and each role grant once, and that a preview finds
nothing left to do.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path

import pytest

from provider.registry.client import AuthClient
from tests.e2e.conftest import LocalStack

pytestmark = pytest.mark.e2e

# Enough writes that some creates are done and others not yet: the roles come first, then models.
KILL_AFTER_WRITES = 8


def test_a_killed_up_converges_on_the_next_up_with_no_duplicates(local_stack: LocalStack) -> None:
    env = {**local_stack.cli.env, "PULUMI_SKIP_CHECKPOINTS": "true"}
    local_stack.cli.env = env
    proc = subprocess.Popen(
        ["pulumi", "up", "--yes", "--skip-preview", "--non-interactive"],
        cwd=local_stack.project, env=env, start_new_session=True,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 300
    while len(local_stack.proxy.writes()) < KILL_AFTER_WRITES and proc.poll() is None:
        assert time.monotonic() < deadline, "the up sent too few writes to be interrupted"
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)  # the CLI
    _kill_plugins_of(local_stack.project)  # its language host and provider: orphans otherwise
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the up ended before it could be killed"
    sent_before = len(local_stack.proxy.writes())
    assert sent_before >= KILL_AFTER_WRITES

    # The dead `up` still holds the file backend's stack lock; the engine's own message says to run
    # `pulumi cancel`, which on a DIY backend deletes the lock file (it does so with or without
    # checkpoints).
    local_stack.cli.run("cancel", "--yes")
    local_stack.up()

    roles = AuthClient(local_stack.registry.url).list_all_roles()
    names = Counter((r["workspace"], r["name"]) for r in roles)
    assert {"ml_engineers", "inference_jobs", "dashboards"} <= {
        name for _, name in names
    }  # Pulumi.local.yaml
    assert all(count == 1 for count in names.values()), names
    for role in roles:
        grants = Counter((p["resource_type"], p["resource_pattern"]) for p in role.get("permissions", []))
        assert all(count == 1 for count in grants.values()), (role["name"], grants)
    urns = [r["urn"] for r in local_stack.resources()]
    assert len(urns) == len(set(urns))
    assert {s["op"] for s in local_stack.preview_steps()} <= {"same"}


def _kill_plugins_of(project: Path) -> None:
    """SIGKILL every process whose command line runs from `project` (the plugins of the killed `up`)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if str(project) in cmdline:
                os.kill(int(entry.name), signal.SIGKILL)
        except (OSError, ProcessLookupError):
            continue  # gone already, or not ours to read
