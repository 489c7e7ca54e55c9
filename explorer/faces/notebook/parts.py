"""The small pieces every panel of the notebook face is made of: a knob's widget, a button, a heading, a line
of the page's wording in its colour. One look for all panels, written once."""

from __future__ import annotations

import html

import ipywidgets as W

from explorer.page.controls import Control, widget_value
from explorer.page.panels import Intro, Number
from explorer.page.status import Message
from explorer.spec.knobs import KNOBS
from explorer.spec.wording import format_value

LABEL_WIDTH, ROW_WIDTH = "150px", "330px"


def control_widget(control: Control, value) -> W.ValueWidget:
    """The ipywidget for one `controls.Control` spec, showing `value`."""
    value = widget_value(control, value)
    common = dict(
        description=control.label,
        tooltip=f"{control.label}: {control.help}",
        style={"description_width": LABEL_WIDTH},
        layout=W.Layout(width=ROW_WIDTH),
    )
    integer = KNOBS[control.name].kind is int
    if control.kind == "slider":
        cls = W.IntSlider if integer else W.FloatSlider
        return cls(
            value=value,
            min=control.lo,
            max=control.hi,
            step=control.step,
            continuous_update=False,
            **({} if integer else {"readout_format": ".2f"}),
            **common,
        )
    if control.kind == "choice_slider":
        return W.SelectionSlider(
            options=[(format_value(o), o) for o in control.options], value=value, continuous_update=False, **common
        )
    if control.kind == "select":
        return W.Dropdown(options=list(control.options), value=value, **common)
    if control.kind == "toggle":
        return W.Checkbox(value=value, indent=True, **common)
    return W.BoundedIntText(value=value, min=int(control.lo), max=int(control.hi), step=int(control.step), **common)


def button(label: str = "", tooltip: str = "", style: str = "") -> W.Button:
    return W.Button(description=label, tooltip=tooltip, button_style=style, layout=W.Layout(width="auto"))


def heading(text: str) -> W.HTML:
    return W.HTML(f"<b style='font-size:1.05em'>{html.escape(text)}</b>")


def line(message: Message, size: str = "1em", bold: bool = False) -> str:
    """A message of the session as one HTML line in its level's colour."""
    text = html.escape(message.text)
    return f"<div style='color:{message.colour};font-size:{size}'>{f'<b>{text}</b>' if bold else text}</div>"


def intro(spec: Intro, **where) -> W.HTML:
    """A panel's first line (`explorer.page.panels`): its name in bold, then what it is for."""
    return W.HTML(f"<b>{html.escape(spec.title)}</b> {html.escape(spec.text.format(**where))}")


def number_box(spec: Number, default: int | None = None, *, width: str, label_width: str) -> W.BoundedIntText:
    """A number box from its spec in `explorer.page.panels`, starting at `default` when the spec has none."""
    return W.BoundedIntText(
        value=spec.default if spec.default is not None else default,
        min=spec.lo,
        max=spec.hi,
        step=spec.step,
        description=spec.label,
        style={"description_width": label_width},
        layout=W.Layout(width=width),
    )
