"""`explorer app`, `class` and `dashboard`: a server (Streamlit or Voilà) as a child process that this command stops
with itself, with the project's settings, from a checkout or an installed wheel alike.

What a user can get wrong before the server starts (a port in use, an extra not installed) is one line and exit 2.
"""

from __future__ import annotations

import argparse
import errno
import importlib.util
import os
import secrets
import signal
import socket
import subprocess
import sys
import time

from explorer.classroom.seats import claim_class
from explorer.faces.cli.shipped import STREAMLIT_ENTRY, lessons_folder, streamlit_settings
from explorer.runs.cpu import default_max_runs
from explorer.spec.errors import ConfigError, ExplorerError
from explorer.spec.wording import plural

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the app extra brings tomli
    import tomli as tomllib


def require(module: str, extra: str, what: str) -> None:
    """A missing optional dependency named with the install line that brings it."""
    if importlib.util.find_spec(module) is None:
        raise ExplorerError(f'{what} needs {module}, which is not installed: pip install "explorer[{extra}]"')


def check_listen(address: str | None, port: int | None) -> None:
    """Refuse an address that is not this machine's, or a port another server holds, before anything starts
    (Streamlit would say so after the class's links were printed; Voilà would quietly take the next port). No port:
    the server picks a free one, and only the address is checked. SO_REUSEADDR: a port whose last server has just
    stopped (its connections in TIME_WAIT) is free."""
    if port is not None and not 1 <= port <= 65_535:
        raise ConfigError(f"--port must be between 1 and 65535, got {port}")
    try:
        family, kind, proto, _, where = socket.getaddrinfo(
            address or None, port or 0, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
    except socket.gaierror:
        raise ConfigError(f"--address {address!r} is not an address of this machine") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(where)
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise ExplorerError(
                    f"port {port} is in use (by another server?): choose another with --port N"
                ) from None
            raise ConfigError(f"cannot listen on {address or 'every interface'}: {err.strerror}") from None


def streamlit_command(*options: str) -> list[str]:
    """`streamlit run` on the app with the project's settings (config.toml, given as flags: Streamlit reads a
    config.toml only from the folder it runs in), then `options`."""
    with streamlit_settings().open("rb") as file:
        settings = tomllib.load(file)
    flags = [
        f"--{section}.{name}={str(value).lower() if isinstance(value, bool) else value}"
        for section, values in settings.items()
        for name, value in values.items()
    ]
    return [sys.executable, "-m", "streamlit", "run", str(STREAMLIT_ENTRY), *flags, *options]


def command_app(args: argparse.Namespace) -> int:
    """The classroom app for one teacher (or one student): what `make app` starts in a checkout."""
    require("streamlit", "app", "explorer app")
    check_listen(args.address, args.port)
    options = []
    if args.port is not None:  # without one, Streamlit takes 8501 or the next free port
        options += ["--server.port", str(args.port)]
    if args.address:
        options += ["--server.address", args.address]
    if args.no_browser:
        options += ["--server.headless", "true"]
    env = dict(os.environ)
    if args.ray:
        env |= ray_env(args.ray)
    return serve_until_stopped(streamlit_command(*options), env)


def command_dashboard(args: argparse.Namespace) -> int:
    """The live dashboard notebook served by Voilà, as a page (the lessons are `explorer lessons`)."""
    require("voila", "notebooks", "explorer dashboard")
    check_listen(args.address, args.port)
    command = [sys.executable, "-m", "voila", str(lessons_folder() / "dashboard.ipynb")]
    if args.port is not None:
        command += [f"--port={args.port}", "--Voila.port_retries=0"]
    if args.address:
        command.append(f"--Voila.ip={args.address}")
    if args.no_browser:
        command.append("--no-browser")
    return serve_until_stopped(command, dict(os.environ))


def ray_env(address: str) -> dict:
    """`--ray ADDRESS`: reach the cluster here first (one line, exit 2, if Ray is missing or the address cannot be
    reached: better now than at a student's Train), say what it has, and hand its address to the server."""
    from explorer.runs.protocol import RAY_ENV
    from explorer.runs.ray_worker import connect  # loads torch and Ray: only for --ray

    ray = connect(address)
    try:
        cpus = int(ray.cluster_resources().get("CPU", 0))
        gpus = int(ray.cluster_resources().get("GPU", 0))
        machines = sum(node["Alive"] for node in ray.nodes())
    finally:
        ray.shutdown()
    gpus = f", {plural(gpus, 'GPU')}" if gpus else ""
    where = f"{plural(cpus, 'CPU')}{gpus} on {plural(machines, 'machine')}"
    print(f"Live runs train on the Ray cluster at {address} ({where} now), one CPU each.", flush=True)
    return {RAY_ENV: address}


def lan_address() -> str:
    """This machine's address on its network, for the students' link (no packet is sent: a UDP socket
    only picks the interface a route would use); the host name when there is no route."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))
            return probe.getsockname()[0]
        except OSError:
            return socket.gethostname()


def command_class(args: argparse.Namespace) -> int:
    """The Streamlit app in class mode, as a child process (Ctrl-C or a SIGTERM ends the class; its runs stay in the
    store, interrupted). The teacher's token is made here, printed once, and handed to the app in its environment."""
    require("streamlit", "app", "explorer class")
    if args.max_runs is not None and args.max_runs < 1:
        raise ConfigError("--max-runs must be at least 1")
    if args.max_students is not None and args.max_students < 1:
        raise ConfigError("--max-students must be at least 1")
    if args.turn is not None and not 1 <= args.turn <= 86_400:
        raise ConfigError("--turn must be between 1 and 86400 seconds")
    check_listen(args.address, args.port)
    ray = ray_env(args.ray) if args.ray else {}
    name = args.name or time.strftime("class-%Y-%m-%d")
    claim_class(name)
    token = secrets.token_urlsafe(16)
    host = lan_address() if args.address in ("0.0.0.0", "::") else args.address
    base = f"http://{host}:{args.port}/"
    limit = f"at most {args.max_runs} (--max-runs)" if args.max_runs else f"up to {default_max_runs()} (this memory)"
    if ray and not args.max_runs:
        limit = "one run a CPU of the Ray cluster"
    print(f"Class {name}: every student's run trains from their Train, {limit}{'' if ray else ', sharing the cores'}.")
    print(f"  students: {base}")
    print(f"\n  teacher:  {base}?teacher={token}")
    print("  (keep the teacher's link to yourself: whoever opens it can set the lesson)", flush=True)
    env = os.environ | ray | {"EXPLORER_CLASS": name, "EXPLORER_CLASS_TOKEN": token}
    if args.max_runs:
        env["EXPLORER_MAX_RUNS"] = str(args.max_runs)
    if args.turn:
        env["EXPLORER_TURN_S"] = str(args.turn)
    if args.max_students:
        env["EXPLORER_MAX_STUDENTS"] = str(args.max_students)
    command = streamlit_command("--server.address", args.address, "--server.port", str(args.port))
    command += ["--server.headless", "true"]
    command += ["--client.showErrorDetails", "type"]  # a forged value's error shows no server paths to a student
    return serve_until_stopped(command, env)


def serve_until_stopped(command: list[str], env: dict) -> int:
    """Run the server as a child and pass on whatever signal ends this command (SIGTERM from `kill`, a
    service manager or `docker stop`; SIGINT; SIGHUP), so stopping the class stops its server and workers:
    with a plain `subprocess.call`, a SIGTERM to this process alone left the server serving the class,
    orphaned. The workers record their runs as interrupted (explorer.runs.worker)."""
    server = subprocess.Popen(command, env=env)

    def pass_on(signum, frame) -> None:
        if server.poll() is None:
            server.send_signal(signum)

    for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, pass_on)
    try:
        return server.wait()
    except KeyboardInterrupt:
        return server.wait()
