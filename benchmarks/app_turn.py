"""How soon a class sees the overfitting turn in the real app: a Streamlit server, headless Chromium at
1024×768 opening the `overfit` preset's link and pressing Train, the page redrawing every second as a
projector's would. The clock starts at the click; the turn is the first evaluation whose validation loss
is 0.3 nats above its minimum so far (read from the run store as the run writes it).

    python benchmarks/app_turn.py [--seeds 0,1,2]

Target: within 30 s on a 2-core machine.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from playwright.sync_api import sync_playwright

from explorer.page.links import link_query
from explorer.runs.store import RunStore
from explorer.spec.presets import preset_config
from tests.app_server import StreamlitServer, launch_chromium, status_text, step_of, wait_until


def turn(store: RunStore) -> tuple[int, float] | None:
    """(step, validation loss) of the first evaluation 0.3 nats above the minimum before it, if any."""
    runs = store.runs(source="app")
    if not runs:
        return None
    best = math.inf
    for record in store.records_of([runs[0]["id"]])[runs[0]["id"]]:
        best = min(best, record["val_loss"])
        if record["val_loss"] >= best + 0.3:
            return record["step"], record["val_loss"]
    return None


def measure(seed: int) -> str:
    os.environ["EXPLORER_HOME"] = tempfile.mkdtemp()  # the server's store: this run alone
    store = RunStore()
    with StreamlitServer() as server, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_context(viewport={"width": 1024, "height": 768}).new_page()
        page.goto(server.link(**link_query(preset_config("overfit").replace(seed=seed), "overfit")))
        train = page.get_by_role("button", name="▶ Train", exact=True)
        train.wait_for(timeout=90_000)
        wait_until(lambda: "Ready" in status_text(page), 30)
        clicked = time.monotonic()
        train.click()
        found = wait_until(lambda: turn(store), timeout=180, every=0.25)
        seconds = time.monotonic() - clicked
        shown = step_of(status_text(page))
        browser.close()
    if not found:
        return f"seed {seed}: no turn within 180 s"
    return (
        f"seed {seed}: turn at step {found[0]} (validation {found[1]:.3f}), {seconds:.1f} s after the click "
        f"(the page showed step {shown:,})"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="0,1,2")
    args = parser.parse_args()
    for seed in map(int, args.seeds.split(",")):
        print(measure(seed), flush=True)


if __name__ == "__main__":
    main()
