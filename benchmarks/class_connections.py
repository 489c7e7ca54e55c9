"""Does a class server stay flat under connections that come and go? A real `explorer class` server (Streamlit,
class mode) and 100 raw websocket clients one after another: each opens the students' page, runs it once,
sends `clear_cache` (refused) and a second run, and disconnects, as a hostile or merely restless class would.
Prints the server's memory (RSS), threads and child processes after a warm-up of 10 and after the 100.

    .venv/bin/python benchmarks/class_connections.py [--cycles 100] [--join]

--join: each client also joins the class (a seat, a Session and its worker process, stopped by the page's
watchdog a few seconds after the page goes).
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.app_server import StreamlitServer, children_of, tiny_query
from tests.raw_client import RawClient, text


def server_figures(pid: int) -> tuple[float, int, int]:
    """(RSS in MB, threads, child processes) of the server process."""
    status = Path(f"/proc/{pid}/status").read_text()
    rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024
    threads = int(re.search(r"Threads:\s+(\d+)", status).group(1))
    return rss, threads, len(children_of(pid))


def cycle(server: StreamlitServer, n: int, join: bool) -> None:
    client = RawClient(server.url, tiny_query())
    client.rerun()
    if join:
        client.click("join", join_name=text(f"Student {n}"))
    client.clear_cache()
    client.rerun()
    client.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=100)
    parser.add_argument("--join", action="store_true")
    args = parser.parse_args()
    home = tempfile.mkdtemp()
    env = {"EXPLORER_CLASS": "bench", "EXPLORER_CLASS_TOKEN": "bench-token-0123456789", "EXPLORER_HOME": home}
    with StreamlitServer(env=env) as server:
        pid = server.process.pid
        for n in range(10):
            cycle(server, n, args.join)
        time.sleep(5)  # the watchdog's grace for the last page's worker, and Streamlit's session cleanup
        warm = server_figures(pid)
        started = time.monotonic()
        for n in range(args.cycles):
            cycle(server, 10 + n, args.join)
        took = time.monotonic() - started
        time.sleep(5)
        after = server_figures(pid)
    print(f"{args.cycles} connect/run/clear_cache/run/disconnect cycles{' with a join each' if args.join else ''}")
    print(f"  {took:.1f} s in all, {1000 * took / args.cycles:.0f} ms a cycle")
    print(f"  after 10 (warm):  RSS {warm[0]:.0f} MB, {warm[1]} threads, {warm[2]} child processes")
    print(f"  after {10 + args.cycles}:       RSS {after[0]:.0f} MB, {after[1]} threads, {after[2]} child processes")
    print(
        f"  change: RSS {after[0] - warm[0]:+.0f} MB, threads {after[1] - warm[1]:+d}, children {after[2] - warm[2]:+d}"
    )


if __name__ == "__main__":
    main()
