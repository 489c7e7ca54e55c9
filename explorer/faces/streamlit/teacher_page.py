"""The teacher's page of a class (`explorer class`): set the lesson for everyone, watch the whole class.

It only draws: what the class may do is the Classroom's (explorer.classroom.seats), what it shows is the board's
(explorer.classroom.board, read from the run store) and the charts' (explorer.classroom.charts). Every read and
every action passes the token from the page's link, and the Classroom checks it each time, so a page
without it gets nothing, whatever it sends. Projector-sized throughout: the class reads it from the back.
"""

from __future__ import annotations

import streamlit as st

from explorer.classroom.board import class_board
from explorer.classroom.charts import class_curves_chart, knob_timeline_chart, outcome_chart
from explorer.classroom.seats import Classroom, Lesson
from explorer.faces.streamlit.parts import markdown_text, vega
from explorer.page.guesses import PREDICT_EVALS
from explorer.runs.store import RunStore
from explorer.spec.knobs import KNOBS, LIVE_KNOBS
from explorer.spec.presets import PRESETS

REFRESH_S = 2.0
NO_LESSON = "— free play —"


def lesson_form(classroom: Classroom, token: str) -> None:
    lesson = classroom.lesson
    title = f"The lesson, for everyone: {lesson.preset or 'free play'}" if lesson.version else "Set the lesson"
    with st.expander(title, expanded=lesson.version == 0), st.form("lesson", border=False):
        presets = [NO_LESSON, *PRESETS]
        preset = st.selectbox("Preset", presets, index=presets.index(lesson.preset or NO_LESSON), key="lesson_preset")
        left, right = st.columns(2)
        locked = left.multiselect(
            "Locked (shown, fixed at the preset's value)", list(KNOBS), list(lesson.locked), key="lesson_locked"
        )
        hidden = right.multiselect("Hidden", list(KNOBS), list(lesson.hidden), key="lesson_hidden")
        challenge = st.text_input(
            "Challenge",
            lesson.challenge,
            placeholder="e.g. stop the overfitting without touching the model size",
            key="lesson_challenge",
        )
        left, mid, right = st.columns(3)
        max_params = left.number_input("At most this many parameters (0: no limit)", 0, 10**9, lesson.max_params or 0)
        knobs = sorted(LIVE_KNOBS)
        compare_by = mid.selectbox("Compare the class by", knobs, index=knobs.index(lesson.compare_by))
        predict = right.toggle(
            "Predict before a knob move",
            lesson.predict,
            key="lesson_predict",
            help=f"A student's knob move waits for their guess; {PREDICT_EVALS} evaluations later they see the answer.",
        )
        if st.form_submit_button("Set for the class", type="primary", key="set_lesson"):
            try:
                classroom.set_lesson(
                    token,
                    Lesson(
                        preset=None if preset == NO_LESSON else preset,
                        locked=tuple(locked),
                        hidden=tuple(hidden),
                        challenge=challenge.strip(),
                        max_params=int(max_params) or None,
                        predict=predict,
                        compare_by=compare_by,
                    ),
                )
                st.success("Set: the students' pages follow within a couple of seconds.")
            except Exception as err:  # noqa: BLE001 - a bad lesson is one line, the page stays
                st.error(markdown_text(str(err)))
    st.toggle(
        "Students see each other's names on their board",
        classroom.show_names,
        key="show_names",
        on_change=lambda: classroom.set_show_names(token, st.session_state.show_names),
    )


def leaderboard(board, limit_set: bool) -> None:
    """A table, not a data grid: big type on a projector. Its cells are Markdown, so a name is escaped, and
    the teacher's run is marked in bold, which no escaped name can be ("Ada (your run)" is not the teacher's)."""
    rows = [
        {
            "student": markdown_text(row["student"]) + (" **(your run)**" if row["teacher"] else ""),
            "best val. perplexity": "—" if row["best_ppl"] is None else f"{row['best_ppl']:.2f}",
            "gap now": "—" if row["gap"] is None else f"{row['gap']:.3f}",
            "steps": f"{row['steps']:,}",
            "status": row["status"],
            **(
                {"parameters": f"{row['params'] or 0:,}" + ("" if row["within_limit"] else " (over)")}
                if limit_set
                else {}
            ),
            "knobs in force": markdown_text(row["knobs"]),
        }
        for row in board.rows
    ]
    if rows:
        st.table(rows, border="horizontal", hide_index=True)
    else:
        st.caption("Nobody has trained yet: the table fills in as students press Train.")


def board_panel(classroom: Classroom, token: str, store: RunStore) -> None:
    """Redrawn every REFRESH_S seconds."""
    board = class_board(classroom, token, store)
    st.markdown(
        f"**{board.joined}** joined · **{board.training}** training · **{board.waiting}** waiting "
        f"(at most {classroom.max_runs} train at once: {classroom.limit_by})"
    )
    leaderboard(board, classroom.lesson.max_params is not None)
    for line in board.sentences:
        st.markdown(f"- {markdown_text(line)}")
    left, right = st.columns(2)
    with left:
        st.vega_lite_chart(vega(class_curves_chart(board, height=360, projector=True)), width="stretch")
        st.vega_lite_chart(
            vega(outcome_chart(board, classroom.lesson.compare_by, height=300, projector=True)), width="stretch"
        )
    with right:
        height = max(240, min(720, 34 * len({m["student"] for m in board.moves})))
        st.vega_lite_chart(vega(knob_timeline_chart(board, height=height, projector=True)), width="stretch")
        st.markdown("#### Predictions against what happened")
        tally = classroom.tally(token)
        if tally:
            st.table(
                [row | {"move": markdown_text(row["move"])} for row in tally], border="horizontal", hide_index=True
            )
        else:
            st.caption("No prediction checked yet (turn on “Predict before a knob move”).")


def teacher_page(classroom: Classroom, token: str) -> None:
    st.html(
        "<style>[data-testid='stMainBlockContainer'] p, [data-testid='stMainBlockContainer'] li "
        "{font-size: 1.35rem} [data-testid='stMainBlockContainer'] {padding-top: 1rem} "
        "[data-testid='stTable'] td, [data-testid='stTable'] th {font-size: 1.2rem}</style>"
    )
    st.markdown(f"## Class {markdown_text(classroom.name)} — the teacher's page")
    st.markdown("Students open this server's address without `?teacher=…`.")
    st.button(
        "Train your own run",
        key="own_run",
        help="Your run is drawn in vermillion among the students'; “← The class” comes back here",
        on_click=lambda: st.session_state.update(teacher_view="run"),
    )
    lesson_form(classroom, token)
    st.fragment(board_panel, run_every=REFRESH_S)(classroom, token, classroom.store())
