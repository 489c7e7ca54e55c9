"""`explorer class`: the Streamlit app for a whole class, as a child process this command stops with itself."""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from explorer.classroom.seats import default_max_runs
from explorer.core.data import MAX_UPLOAD_MIB
from explorer.spec.errors import ConfigError


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
    if args.max_runs is not None and args.max_runs < 1:
        raise ConfigError("--max-runs must be at least 1")
    if args.max_students is not None and args.max_students < 1:
        raise ConfigError("--max-students must be at least 1")
    if args.turn is not None and not 1 <= args.turn <= 86_400:
        raise ConfigError("--turn must be between 1 and 86400 seconds")
    name = args.name or time.strftime("class-%Y-%m-%d")
    token = secrets.token_urlsafe(16)
    host = lan_address() if args.address in ("0.0.0.0", "::") else args.address
    base = f"http://{host}:{args.port}/"
    print(f"Class {name}: at most {args.max_runs or default_max_runs()} runs train at once.")
    print(f"  students: {base}")
    print(f"\n  teacher:  {base}?teacher={token}")
    print("  (keep the teacher's link to yourself: whoever opens it can set the lesson)", flush=True)
    env = os.environ | {"EXPLORER_CLASS": name, "EXPLORER_CLASS_TOKEN": token}
    if args.max_runs:
        env["EXPLORER_MAX_RUNS"] = str(args.max_runs)
    if args.turn:
        env["EXPLORER_TURN_S"] = str(args.turn)
    if args.max_students:
        env["EXPLORER_MAX_STUDENTS"] = str(args.max_students)
    app = Path(__file__).resolve().parents[1] / "streamlit" / "app.py"
    command = [sys.executable, "-m", "streamlit", "run", str(app), "--server.address", args.address]
    command += ["--server.port", str(args.port), "--server.headless", "true", "--browser.gatherUsageStats", "false"]
    command += ["--server.maxUploadSize", str(MAX_UPLOAD_MIB)]  # refused by the server before it is held
    command += ["--client.showErrorDetails", "type"]  # a forged value's error shows no server paths to a student
    return serve_until_stopped(command, env)


def serve_until_stopped(command: list[str], env: dict) -> int:
    """Run the server as a child and pass on whatever signal ends this command (SIGTERM from `kill`, a
    service manager or `docker stop`; SIGINT; SIGHUP), so stopping the class stops its server and workers:
    with a plain `subprocess.call`, a SIGTERM to this process alone left the server serving the class,
    orphaned. The workers record their runs as interrupted (explorer.worker)."""
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
