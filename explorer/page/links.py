"""Links: a setup as a shareable address. `parse_link` reads a link's parameters as untrusted input (each
value checked, the rest of the link still applies), `link_query` writes the link that reopens a setup; the
Streamlit app's address bar and the notebook's `dashboard(query=...)` both go through them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from explorer.core.data import SHIPPED
from explorer.page.controls import check_from_page, off_the_widgets
from explorer.spec.errors import ConfigError
from explorer.spec.knobs import KNOBS, QUERY_NAMES, Config, knob_for_query
from explorer.spec.presets import PRESETS, preset_config
from explorer.spec.wording import format_value


@dataclass(frozen=True)
class Link:
    """What a shared link opens: a setup, its lesson preset, the knobs a lesson fixes (`lock=`) or leaves out
    (`hide=`), and what the link could not do (said on the page)."""

    config: Config
    preset: str | None
    locked: tuple[str, ...]
    hidden: tuple[str, ...]
    problems: list[str]

    @property
    def locked_values(self) -> dict:
        """The locked knobs at the link's values, as `Session(locked=...)` takes them."""
        return {name: getattr(self.config, name) for name in self.locked}


def parse_link(query: dict, base: Config | None = None) -> Link:
    """A shared link's parameters -> Link. `preset=` is applied first, then each knob on top, one at a time,
    so a bad value is named and the rest of the link still applies. A link may name only a corpus that ships
    with explorer: never a server path or another viewer's upload. `lock=` and `hide=` list knobs by their
    link names (`lock=dropout,cell`); a knob both locked and hidden is hidden."""
    query = {key: (value[-1] if isinstance(value, (list, tuple)) else value) for key, value in query.items()}
    config, problems, preset = base or Config(), [], query.get("preset") or None
    if preset is not None:
        if preset in PRESETS:
            config = preset_config(preset, config)
        else:
            problems.append(f"unknown preset {preset!r}; presets: {', '.join(PRESETS)}")
            preset = None
    for key, value in query.items():
        name = knob_for_query(key)
        if name not in KNOBS:
            continue
        if name == "corpus" and value not in SHIPPED:
            problems.append(f"corpus {value!r} is not available from a link; using Tiny Shakespeare")
            continue
        try:
            linked = config.replace(**{name: value})
            check_from_page(name, getattr(linked, name))
            config = linked
        except ConfigError as err:
            problems.append(f"{err}; using {format_value(getattr(config, name))}")
    locked, hidden = _link_knobs(query, "lock", problems), _link_knobs(query, "hide", problems)
    problems += off_the_widgets(config, {knob_for_query(key) for key in query})
    return Link(config, preset, tuple(name for name in locked if name not in hidden), hidden, problems)


def _link_knobs(query: dict, key: str, problems: list[str]) -> tuple[str, ...]:
    """The knobs a `lock=` or `hide=` names, sorted; an unknown name is a problem, the others still count."""
    names = set()
    for word in filter(None, (word.strip() for word in query.get(key, "").split(","))):
        if (name := knob_for_query(word)) in KNOBS:
            names.add(name)
        else:
            known = ", ".join(QUERY_NAMES.get(knob, knob) for knob in KNOBS)
            problems.append(f"unknown knob {word!r} in {key}=; known: {known}")
    return tuple(sorted(names))


def link_query(
    config: Config, preset: str | None = None, locked: Iterable[str] = (), hidden: Iterable[str] = ()
) -> dict[str, str]:
    """The link that reopens this setup and these knobs: the preset, then what differs from it (an
    uploaded corpus stays out: it is private to its viewer), then the knobs the lesson fixes and hides."""
    if preset in PRESETS:
        query = {"preset": preset, **config.to_query(preset_config(preset))}
    else:
        query = config.to_query()
    if config.corpus not in SHIPPED:
        query.pop("corpus", None)
    for key, names in (("lock", set(locked) - set(hidden)), ("hide", set(hidden))):
        if names:
            query[key] = ",".join(sorted(QUERY_NAMES.get(name, name) for name in names))
    return query
