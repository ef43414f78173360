"""A Pulumi language host for Python, for engines built from Pulumi's Go modules.

Pulumi's own Python language host (`pulumi-language-python`) is a Go module
that the Go module proxy reachable here does not serve, so `make engine` cannot
build it. This module implements the same gRPC `LanguageRuntime` service with
the protocol stubs that ship in the `pulumi` Python SDK, and runs programs the
way the Go host does: through Pulumi's own `pulumi-language-python-exec`
script, in the project's virtualenv, with config passed in the environment.

Where a released Pulumi CLI is installed, its bundled Go host is used instead;
this file is then never loaded.

The engine starts this process with the engine's gRPC address as the last
argument and reads the port this server listens on from the first line of
stdout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
from google.protobuf import json_format
from pulumi.runtime.proto import language_pb2, language_pb2_grpc, plugin_pb2

HERE = Path(__file__).resolve().parent
EXEC_SCRIPT = HERE / "pulumi-language-python-exec"
VERSION = os.environ.get("MRGOV_ENGINE_VERSION", "3.274.1")

# The exec script uses this exit code after it has already shown the user an
# actionable error, so the engine should not add a second one.
USER_ACTIONABLE_EXIT = 32


def _options(info: language_pb2.ProgramInfo) -> dict[str, Any]:
    return json_format.MessageToDict(info.options) if info.HasField("options") else {}


def python_for(root_directory: str, options: dict[str, Any]) -> str:
    """The interpreter for a project: its `virtualenv` option, else `python3`."""
    venv = options.get("virtualenv") or os.environ.get("PULUMI_RUNTIME_VIRTUALENV")
    if venv:
        path = Path(venv)
        if not path.is_absolute():
            path = Path(root_directory or os.getcwd()) / path
        candidate = path / "bin" / "python"
        if not candidate.exists():
            raise FileNotFoundError(
                f"Pulumi.yaml sets virtualenv to {venv!r}, but {candidate} does not exist; "
                "run `make venv` first"
            )
        return str(candidate)
    return os.environ.get("PULUMI_PYTHON_CMD", "python3")


def _venv_env(python: str) -> dict[str, str]:
    env = dict(os.environ)
    bin_dir = str(Path(python).parent)
    if (Path(bin_dir).parent / "pyvenv.cfg").exists():
        env["PATH"] = bin_dir + os.pathsep + env.get("PATH", "")
        env["PULUMI_RUNTIME_VIRTUALENV"] = str(Path(bin_dir).parent)
        env.pop("PYTHONHOME", None)
    return env


class LanguageHost(language_pb2_grpc.LanguageRuntimeServicer):
    """Runs Python Pulumi programs and Python plugins (such as policy packs)."""

    def __init__(self, engine_address: str) -> None:
        self.engine_address = engine_address

    def Handshake(self, request: Any, context: Any) -> Any:  # noqa: N802 (gRPC names)
        self.engine_address = request.engine_address or self.engine_address
        return language_pb2.LanguageHandshakeResponse()

    def GetPluginInfo(self, request: Any, context: Any) -> Any:  # noqa: N802
        return plugin_pb2.PluginInfo(version=VERSION)

    def GetRequiredPlugins(self, request: Any, context: Any) -> Any:  # noqa: N802
        # Plugins are resolved when resources register; the Go host's guess from
        # installed packages would demand the Databricks plugin on every stack.
        return language_pb2.GetRequiredPluginsResponse()

    def GetRequiredPackages(self, request: Any, context: Any) -> Any:  # noqa: N802
        return language_pb2.GetRequiredPackagesResponse()

    def About(self, request: Any, context: Any) -> Any:  # noqa: N802
        return language_pb2.AboutResponse(executable=sys.executable, version=sys.version.split()[0])

    def GetProgramDependencies(self, request: Any, context: Any) -> Any:  # noqa: N802
        return language_pb2.GetProgramDependenciesResponse()

    def InstallDependencies(self, request: Any, context: Any) -> Iterator[Any]:  # noqa: N802
        # `make venv` owns dependency installation; nothing to stream.
        return iter(())

    def Run(self, request: Any, context: Any) -> Any:  # noqa: N802
        info = request.info
        root = info.root_directory or request.pwd
        try:
            python = python_for(root, _options(info))
        except FileNotFoundError as exc:
            return language_pb2.RunResponse(error=str(exc))
        program = request.program or info.program_directory or "."
        argv = [
            python, "-u", str(EXEC_SCRIPT),
            "--monitor", request.monitor_address,
            "--engine", self.engine_address,
            "--project", request.project,
            "--stack", request.stack,
            "--pwd", request.pwd,
            "--dry_run", "true" if request.dryRun else "false",
            "--parallel", str(request.parallel),
            "--organization", request.organization,
            "--root_directory", root,
            program, *request.args,
        ]  # fmt: skip
        env = _venv_env(python)
        env["PULUMI_CONFIG"] = json.dumps(dict(request.config))
        env["PULUMI_CONFIG_SECRET_KEYS"] = json.dumps(list(request.configSecretKeys))
        code = subprocess.call(argv, cwd=request.pwd or None, env=env)
        if code == 0:
            return language_pb2.RunResponse()
        if code == USER_ACTIONABLE_EXIT:
            return language_pb2.RunResponse(bail=True)
        return language_pb2.RunResponse(error=f"Program exited with non-zero exit code: {code}")

    def RunPlugin(self, request: Any, context: Any) -> Iterator[Any]:  # noqa: N802
        """Run a plugin written in Python (a policy pack) and stream its output."""
        info = request.info
        program_dir = info.program_directory or request.program
        python = python_for(info.root_directory or program_dir, _options(info))
        env = _venv_env(python)
        env.update(item.split("=", 1) for item in request.env if "=" in item)
        proc = subprocess.Popen(
            [python, "-u", program_dir, *request.args],
            cwd=request.pwd or None,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        chunks: list[Any] = []
        lock = threading.Condition()

        def pump(stream: Any, field: str) -> None:
            for line in iter(stream.readline, b""):
                with lock:
                    chunks.append(language_pb2.RunPluginResponse(**{field: line}))
                    lock.notify()

        threads = [
            threading.Thread(target=pump, args=(proc.stdout, "stdout"), daemon=True),
            threading.Thread(target=pump, args=(proc.stderr, "stderr"), daemon=True),
        ]
        for t in threads:
            t.start()
        while True:
            with lock:
                lock.wait_for(lambda: chunks or not any(t.is_alive() for t in threads), 0.5)
                pending, chunks[:] = list(chunks), []
            yield from pending
            if not pending and not any(t.is_alive() for t in threads):
                break
        yield language_pb2.RunPluginResponse(exitcode=proc.wait())


def main() -> None:
    args = [a for a in sys.argv[1:] if not a.startswith("-")]
    engine_address = args[-1] if args else ""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=8),
        options=[("grpc.max_receive_message_length", 400 * 1024 * 1024)],
    )
    language_pb2_grpc.add_LanguageRuntimeServicer_to_server(LanguageHost(engine_address), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    try:
        server.wait_for_termination()
    except KeyboardInterrupt:  # the engine stops plugins with SIGINT when it is done
        server.stop(grace=None)


if __name__ == "__main__":
    main()
