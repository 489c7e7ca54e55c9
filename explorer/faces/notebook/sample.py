"""The Text sample tab: text generated from the live run's weights as they are now, while training goes on."""

from __future__ import annotations

import html

import ipywidgets as W

from explorer.faces.notebook.parts import ROW_WIDTH, button, line
from explorer.page.panels import SAMPLE_PANEL
from explorer.page.session import Session


class SamplePanel:
    """`prompt`, `sample_length`, `temperature`, the Generate button (`generate`) and the text (`sample_text`)."""

    def __init__(self, session: Session, width: int):
        self.session, self._width, self._samples = session, width, 0
        spec, style = SAMPLE_PANEL, {"description_width": "110px"}
        self.prompt = W.Text(value=spec.prompt.default, description=spec.prompt.label, layout=W.Layout(width=ROW_WIDTH))
        self.sample_length = W.IntSlider(
            value=spec.length.default,
            min=spec.length.lo,
            max=spec.length.hi,
            step=spec.length.step,
            description=spec.length.label,
            style=style,
            layout=W.Layout(width=ROW_WIDTH),
        )
        self.temperature = W.SelectionSlider(
            options=spec.temperature.options,
            value=spec.temperature.default,
            description=spec.temperature.label,
            style=style,
            layout=W.Layout(width=ROW_WIDTH),
            tooltip=spec.temperature.help,
        )
        self.generate = button(spec.generate.label, spec.generate.help, "info")
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
        step = self.session.snapshot().last_step
        self.sample_text.value = (
            f"<div style='color:#555'>{html.escape(SAMPLE_PANEL.sampled_after(step))}</div>"
            f"<div style='white-space:pre-wrap;font-family:monospace;line-height:1.35;"
            f"background:#f6f6f6;padding:8px;max-width:{self._width + 100}px'>"
            f"{html.escape(text)}</div>"
        )
