"""The Text sample tab: text generated from the live run's weights as they are now, while training goes on."""

from __future__ import annotations

import html

import ipywidgets as W

from explorer.faces.notebook.parts import ROW_WIDTH, button, line
from explorer.page.session import Session


class SamplePanel:
    """`prompt`, `sample_length`, `temperature`, the Generate button (`generate`) and the text (`sample_text`)."""

    def __init__(self, session: Session, width: int):
        self.session, self._width, self._samples = session, width, 0
        self.prompt = W.Text(value="ROMEO:", description="Prompt", layout=W.Layout(width=ROW_WIDTH))
        self.sample_length = W.IntSlider(
            value=300,
            min=20,
            max=1000,
            step=20,
            description="Length (tokens)",
            style={"description_width": "110px"},
            layout=W.Layout(width=ROW_WIDTH),
        )
        self.temperature = W.SelectionSlider(
            options=[0.2, 0.5, 0.8, 1.0, 1.2, 1.5],
            value=0.8,
            description="Temperature",
            style={"description_width": "110px"},
            layout=W.Layout(width=ROW_WIDTH),
            tooltip="Low: safe and repetitive; high: adventurous and noisy",
        )
        self.generate = button("Generate text", "From the weights as they are now; training goes on", "info")
        self.generate.on_click(lambda _: self._generate())
        self.sample_text = W.HTML()
        self.widget = W.VBox(
            [self.prompt, self.sample_length, self.temperature, self.generate, self.sample_text],
            layout=W.Layout(align_items="flex-start"),
        )

    def _generate(self) -> None:
        self._samples += 1
        text, problem = self.session.sample(
            self.prompt.value, self.sample_length.value, self.temperature.value, self._samples
        )
        if problem is not None:
            self.sample_text.value = line(problem)
            return
        step = self.session.run.snapshot().last_step
        self.sample_text.value = (
            f"<div style='color:#555'>Sampled after step {step:,}:</div>"
            f"<div style='white-space:pre-wrap;font-family:monospace;line-height:1.35;"
            f"background:#f6f6f6;padding:8px;max-width:{self._width + 100}px'>"
            f"{html.escape(text)}</div>"
        )
