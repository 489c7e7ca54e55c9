"""Class mode: one class on one server. The teacher sets the lesson for everyone; each student's page
holds a `Seat`; every student's run trains at once, up to a limit of memory or the teacher's, beyond which
students wait their turn in order.

Who may do what is decided here, on the server, never by which buttons a page draws:
- every teacher action and every read of the class's data takes the teacher token (`TeacherOnly` without
  it); the token is random per server start and compared in constant time;
- a student acts only through their own Seat and Session, which the server made for their browser
  session; no call takes another student's name or run id, so there is nothing to forge;
- a student is their browser, not their tab: the page names its seat by a random key kept in a cookie, so a
  second tab or a reload sits at the same seat and trains the same run (one seat, one slot per student);
- names are normalised (NFKC), cleaned of control characters and blank letters, cut to 32 and escaped where
  they are drawn; a name that looks like "Teacher" in any script, or mixes alphabets that look alike, is
  refused. A name is not an identity: the teacher's own run is marked by the server, never by its name.
- the class lives in this module, once per server process (`the_classroom`), never in a cache that a
  client's message could clear.

Capacity: every student's run trains from the moment they press Train, up to `max_runs` at once: what the
server's memory holds (explorer.runs.cpu.default_max_runs), or the teacher's `--max-runs`; not the cores. The
runs share the cores (each a one-thread worker, explorer.runs.cpu), at a lower priority than the server, so the
pages stay responsive however many train. A run holds a place while it is running (paused, finished, stopped and
diverged runs hold none, and a run whose viewer left is stopped by its watchdog). Only beyond `max_runs` does a
student wait, told why in one line, in a first-come queue that a dispatcher thread drains: the run starts by
itself when its turn comes, so a page in a background tab (whose timers browsers slow down) still gets its turn
and does not block the others. While anyone waits, a run that has trained for a whole turn (`turn_s`) yields its
place: it pauses, joins the back of the queue and goes on by itself in its next turn, so no student's run,
whatever its size, keeps the others from their share.
"""

from __future__ import annotations

import os
import random
import secrets
import threading
import time
import unicodedata
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING

from explorer.page.guesses import QUESTION, Prediction
from explorer.runs.cpu import default_max_runs
from explorer.runs.hosts import Hosts
from explorer.runs.protocol import RAY_ENV
from explorer.runs.store import HOST, RunStore, process_alive, process_start
from explorer.spec.errors import ConfigError, ExplorerError
from explorer.spec.knobs import KNOBS
from explorer.spec.presets import PRESETS
from explorer.spec.wording import plural

if TYPE_CHECKING:
    from explorer.page.session import Session

ANIMALS = (
    "Otter Heron Badger Lynx Puffin Gecko Walrus Marten Ibis Tapir Okapi Quokka Wombat Narwhal Ocelot Lemur "
    "Bison Crane Dingo Ferret Jackal Kestrel Llama Magpie Newt Orca Panda Raven Stoat Toucan Vole Yak"
).split()
ADJECTIVES = "Brave Calm Clever Curious Eager Gentle Happy Keen Lively Nimble Patient Quick Quiet Swift Wise".split()
MAX_NAME = 32
DISPATCH_S = 0.2  # how often the queue looks for a free slot
RAY_CPUS_S = 5.0  # how often a class on Ray reads its cluster's CPUs again
TURN_S = 90.0  # how long a run trains while classmates wait before it yields its slot
MAX_SEATS = 100  # students in one class; beyond it a seat whose pages have all gone is freed, else a join is refused
SEATS_PER_COMPUTER = 2  # a browser is a seat: a student's second browser, not a script's hundredth


# Letters of other scripts that look like Latin ones: "Тeacher" with a Cyrillic Т is refused like "Teacher".
LOOKS_LIKE = {
    "a": "аαɑ", "A": "АΑꓮᎪ", "B": "ВΒᏴ", "c": "сϲ", "C": "СϹꓚᏟ", "d": "ԁ", "e": "еҽ", "E": "ЕΕꓰᎬ",
    "g": "ɡց", "G": "Ꮐ", "h": "һհɦ", "H": "НΗꓧᎻ", "i": "іι", "I": "ІΙ", "j": "ј", "J": "ЈᎫ", "K": "КΚᏦ",
    "l": "1", "M": "МΜᎷ", "n": "ո", "N": "Ν", "o": "оοօ0", "O": "ОΟ", "p": "рρ", "P": "РΡᏢ", "q": "ԛ",
    "r": "г", "R": "ꓣᎡ", "s": "ѕ", "S": "ЅᏚ", "t": "τ", "T": "ТΤꓔᎢ", "u": "սυ", "v": "ν", "V": "Ꮩ",
    "W": "Ꮃ", "x": "х", "X": "ХΧ", "y": "у", "Y": "ΥҮ", "Z": "ΖᏃ",
}  # fmt: skip
LOOKALIKES = str.maketrans({other: latin for latin, others in LOOKS_LIKE.items() for other in others})
# Scripts whose letters pass for each other: a name may use one of them, not a mixture ("Tеacher").
LOOKALIKE_SCRIPTS = ("LATIN", "CYRILLIC", "GREEK", "ARMENIAN", "CHEROKEE", "LISU")
FILLERS = dict.fromkeys(map(ord, "\u115f\u1160\u3164\uffa0\u2800"))  # blank letters, not spaces


class TeacherOnly(ExplorerError):
    """A teacher action or a read of the class's data without the right token."""


class ClassError(ExplorerError):
    """A page asking for what is not its own."""


def clean_name(raw: str) -> str:
    """A display name as typed, in its NFKC form (full-width and other compatibility letters become the
    plain ones), without control or formatting characters, spaces collapsed, at most MAX_NAME characters.
    It is escaped where drawn; this only keeps it one printable line."""
    kept = "".join(
        c for c in unicodedata.normalize("NFKC", raw).translate(FILLERS) if unicodedata.category(c)[0] != "C"
    )
    return " ".join(kept.split())[:MAX_NAME]


def mixes_scripts(name: str) -> bool:
    """Letters from two of the scripts that pass for each other (Latin with Cyrillic, say) in one name."""
    scripts = {unicodedata.name(c, "").split(" ")[0] for c in name if c.isalpha()}
    return len(scripts & set(LOOKALIKE_SCRIPTS)) > 1


def skeleton(name: str) -> str:
    """What a name looks like, whatever its script, case, spaces and marks: two names with the same skeleton
    are one name to a class reading the board ("Ada" and "Аda" with a Cyrillic А)."""
    base = unicodedata.normalize("NFKD", name.translate(LOOKALIKES))
    return "".join(c for c in base if c.isalnum()).translate(LOOKALIKES).casefold()


def looks_like_teacher(name: str) -> bool:
    return "teacher" in skeleton(name)


def animal_name(rng: random.Random | None = None) -> str:
    rng = rng or random.Random()
    return f"{rng.choice(ADJECTIVES)} {rng.choice(ANIMALS)}"


REMEMBER_S = 4 * 3600  # a restarted class gives seats back to students gone less than a long lesson ago


@dataclass(frozen=True)
class Lesson:
    """What the teacher set for everyone: a preset, the knobs students may not move (locked: shown,
    fixed at the preset's value) or see (hidden), a challenge, and whether a knob move waits for a
    prediction. `version` grows with every change, so a page knows it has to follow."""

    preset: str | None = None
    locked: tuple[str, ...] = ()
    hidden: tuple[str, ...] = ()
    challenge: str = ""
    max_params: int | None = None  # the challenge's limit on the model's size, if any
    predict: bool = False
    compare_by: str = "dropout"  # the knob the class's outcomes are grouped by
    version: int = 0

    def check(self) -> Lesson:
        if self.preset is not None and self.preset not in PRESETS:
            raise ConfigError(f"unknown preset {self.preset!r}; presets: {', '.join(PRESETS)}")
        for name in (*self.locked, *self.hidden, self.compare_by):
            if name not in KNOBS:
                raise ConfigError(f"unknown knob {name!r}; known: {', '.join(KNOBS)}")
        if self.max_params is not None and self.max_params < 1:
            raise ConfigError("the parameter limit must be at least 1")
        return replace(
            self, locked=tuple(sorted(set(self.locked) - set(self.hidden))), hidden=tuple(sorted(self.hidden))
        )

    @property
    def question(self) -> str:
        """What a prediction asks, in the lesson's words when its preset has some."""
        return (PRESETS[self.preset].predict if self.preset in PRESETS else "") or QUESTION


class Pages:
    """Is any of a student's pages (tabs) still open? Their browser sessions' ids, asked of `is_open` (the
    app's runtime): a seat stays present while one tab is, a reload's new page joins the same seat, and once
    every page has been gone for `grace_s` the seat is absent until a page comes back. One answer for the
    run's watchdog, the queue and the teacher's "joined" count, which so never flips back and forth."""

    def __init__(
        self, is_open: Callable[[str], bool], grace_s: float = 3.0, clock: Callable[[], float] = time.monotonic
    ):
        self.is_open, self.grace_s, self.clock = is_open, grace_s, clock
        self._ids: set[str] = set()
        self._seen = clock()  # when a page was last open
        self._lock = threading.Lock()

    def add(self, page_id: str) -> None:
        with self._lock:
            self._ids = {page for page in self._ids if self.is_open(page)} | {page_id}
            self._seen = self.clock()

    def __call__(self) -> bool:
        with self._lock:
            ids = list(self._ids)
        now = self.clock()
        if any(self.is_open(page) for page in ids):
            self._seen = now
            return True
        return now - self._seen < self.grace_s

    def __contains__(self, page_id: str) -> bool:
        with self._lock:
            return page_id in self._ids


@dataclass(eq=False)  # a seat is itself: two seats are never "equal"
class Seat:
    """A student's place in the class: made once per browser (every tab of it sits here), held by it only."""

    key: str  # the page's seat key (a random cookie of that browser): never shown, nor sent to another page
    name: str
    session: Session
    present: Callable[[], bool]  # False once the page has gone (closed tab, lost network) for a grace period
    teacher: bool = False
    address: str = ""  # the student's computer (its IP address as the server sees it; "" for this machine)

    def training(self) -> bool:
        return self.session.run.status == "running"


class Classroom:
    """The class's shared state on one server (one per process, made by the app from the environment)."""

    def __init__(
        self,
        name: str,
        token: str | None = None,
        max_runs: int | None = None,
        store_path=None,
        turn_s: float = TURN_S,
        max_seats: int = MAX_SEATS,
        ray: str | None = None,
    ):
        """`store_path`: the run store the class's runs go to (None: the default, $EXPLORER_HOME). `ray`: the Ray
        cluster the runs train on (`explorer class --ray`), whose CPUs are then the limit where the teacher set none:
        one run a CPU, as Ray places them; beyond, students wait here, told why, not in Ray's queue."""
        self.name = name
        self.token = token or secrets.token_urlsafe(16)
        self.ray = ray
        self.hosts = None if ray else Hosts()  # the class's worker processes: its runs several to each
        self._max_runs = max_runs or (None if ray else default_max_runs())
        self._cluster_cpus = (-RAY_CPUS_S, 1)  # (when read, the Ray cluster's CPUs)
        memory = "the Ray cluster's CPUs" if ray else "what this server's memory holds"
        self.limit_by = "the teacher's limit" if max_runs else memory
        self.turn_s = turn_s
        self.max_seats = max_seats
        self._turn_began: dict[Seat, float] = {}  # when each training run's turn began
        self.store_path = store_path
        self._store: RunStore | None = None
        self._store_lock = threading.Lock()
        self.lesson = Lesson()
        self.show_names = False  # students see each other's names on their board only if the teacher says so
        self.seats: dict[str, Seat] = {}
        self.board_read = None  # (when, Board): class_board's last read of the store, shared by every page
        self.board_lock = threading.Lock()  # one page reads the store for the board at a time
        self._queue: list[tuple[Seat, Callable[[], None]]] = []
        self._starting: set[Seat] = set()  # seats taken off the queue whose run is still starting
        self._wake = threading.Event()
        saved = self.store().class_state(name, newer_than=time.time() - REMEMBER_S)
        if "lesson" in saved:  # the class restarted: the lesson the teacher had set, locks and all
            self.lesson = Lesson(**{k: tuple(v) if isinstance(v, list) else v for k, v in saved["lesson"].items()})
        self._returning = {key[5:]: seat for key, seat in saved.items() if key.startswith("seat:")}
        self._lock = threading.RLock()
        self._rng = random.Random()
        threading.Thread(target=self._dispatch_forever, name="explorer-class-queue", daemon=True).start()

    @property
    def max_runs(self) -> int:
        """Runs training at once: the teacher's limit, this server's memory, or the Ray cluster's CPUs as they are
        now (read every few seconds: machines join and leave)."""
        if self._max_runs:
            return self._max_runs
        when, cpus = self._cluster_cpus
        if time.monotonic() - when >= RAY_CPUS_S:
            from explorer.runs.ray_worker import connect  # only a class on Ray loads it

            try:
                cpus = max(1, int(connect(self.ray).cluster_resources().get("CPU", 1)))
            except Exception:  # noqa: BLE001 - the cluster unreachable for now: the last count holds
                pass
            self._cluster_cpus = (time.monotonic(), cpus)
        return cpus

    # ------------------------------------------------------------------------------------ the teacher
    def store(self) -> RunStore:
        """The class's run store, opened once for every page that reads it (the teacher's board)."""
        with self._store_lock:
            if self._store is None:
                self._store = RunStore(self.store_path)
            return self._store

    def is_teacher(self, token: str | None) -> bool:
        """Constant time, and any text at all is just a wrong token (`?teacher=é` once raised a TypeError)."""
        return bool(token) and secrets.compare_digest(str(token).encode(), self.token.encode())

    def check_teacher(self, token: str | None) -> None:
        if not self.is_teacher(token):
            raise TeacherOnly("only the teacher's link can do that")

    def set_lesson(self, token: str | None, lesson: Lesson) -> Lesson:
        """The lesson for everyone; students' pages follow at their next refresh."""
        self.check_teacher(token)
        with self._lock:
            self.lesson = replace(lesson.check(), version=self.lesson.version + 1)
            self.store().save_class_state(self.name, "lesson", asdict(self.lesson))
            return self.lesson

    def set_show_names(self, token: str | None, show: bool) -> None:
        self.check_teacher(token)
        self.show_names = bool(show)

    # ------------------------------------------------------------------------------------ students
    def join(
        self,
        key: str,
        name: str,
        session: Session,
        present: Callable[[], bool],
        teacher_token: str | None = None,
        address: str = "",
    ) -> Seat:
        """A browser takes a seat (once: joining again returns the same seat). An empty name gets a random
        animal's; a name that looks like one already taken gets a number; one that looks like "Teacher" is
        refused to students. A seat belongs to the session that took it: another session naming its key gets
        nothing of it."""
        with self._lock:
            if key in self.seats:
                if self.seats[key].session is not session:
                    raise ClassError("this seat belongs to another page")
                return self.seats[key]
            teacher = self.is_teacher(teacher_token)
            if not teacher and len(self.seats) >= self.max_seats and not self._release_gone_seats():
                raise ClassError(f"the class is full ({plural(self.max_seats, 'seat')}): ask your teacher")
            here = [seat for seat in self.seats.values() if address and seat.address == address and not seat.teacher]
            if not teacher and len(here) >= SEATS_PER_COMPUTER and not self._release_gone_seats(address):
                raise ClassError(
                    f"this computer already has {plural(SEATS_PER_COMPUTER, 'seat')} in the class: go on in the "
                    f"page you have open"
                )
            returning = self._returning.pop(key, None)
            name = clean_name(returning["name"] if returning else name)
            if name and not teacher and looks_like_teacher(name):
                raise ClassError(f"{name!r} looks like the teacher's name: pick another")
            if mixes_scripts(name):
                raise ClassError(f"{name!r} mixes alphabets that look alike: write it in one")
            name = name or ("Teacher" if teacher else animal_name(self._rng))
            taken = {skeleton(seat.name) for seat in self.seats.values()}
            base, n = name, 1
            while skeleton(name) in taken:
                n += 1
                name = f"{base[: MAX_NAME - 3]} {n}"
            seat = self.seats[key] = Seat(key, name, session, present, teacher, address)
            if returning:
                session.predictions = [Prediction(**p) for p in returning["predictions"]]
        self.save_seat(seat)
        return seat

    def returning(self, key: str) -> bool:
        """Had this browser a seat before the server restarted? (Its page joins again without asking a name.)"""
        with self._lock:
            return key in self._returning and key not in self.seats

    def save_seat(self, seat: Seat) -> None:
        """A seat's name and predictions, kept in the store so that a restarted class gives them back."""
        state = {"name": seat.name, "predictions": [asdict(p) for p in seat.session.predictions]}
        self.store().save_class_state(self.name, f"seat:{seat.key}", state)

    def _release_gone_seats(self, address: str | None = None) -> bool:
        """Free the seats (of this computer, if given) whose pages have all gone and whose run neither trains
        nor waits (under the lock); their runs stay in the store. True if any was freed."""
        queued = {seat for seat, _ in self._queue} | self._starting
        gone = [
            key
            for key, seat in self.seats.items()
            if not seat.teacher
            and (address is None or seat.address == address)
            and seat not in queued
            and not seat.training()
            and not seat.present()
        ]
        for key in gone:
            seat = self.seats.pop(key)
            self._turn_began.pop(seat, None)
            # closed off the class's lock: stopping a worker can take seconds, and every page waits on that lock
            threading.Thread(target=seat.session.close, name="explorer-seat-freed", daemon=True).start()
        return bool(gone)

    def seated(self, page_id: str) -> bool:
        """Is this browser session one of a seated student's pages (may it upload)?"""
        with self._lock:
            seats = list(self.seats.values())
        return any(isinstance(seat.present, Pages) and page_id in seat.present for seat in seats)

    def seat_for(self, key: str) -> Seat | None:
        """The seat a browser already holds (a second tab, a reload), or None."""
        with self._lock:
            return self.seats.get(key)

    def training(self) -> int:
        """Runs of the class training right now, and those about to."""
        with self._lock:
            return sum(seat.training() for seat in self.seats.values()) + len(self._starting)

    def joined(self) -> int:
        """Students whose page is open (the teacher's own seat aside)."""
        with self._lock:
            seats = list(self.seats.values())
        return sum(not seat.teacher and seat.present() for seat in seats)

    # ------------------------------------------------------------------------------------ the queue
    def ask_to_train(self, seat: Seat, start: Callable[[], None]) -> int | None:
        """Join the queue (once; not while the run trains or is being started); the queue's thread starts
        it when a slot is free and nobody waits ahead. Returns the number of students ahead, or None."""
        with self._lock:
            if not (seat.training() or seat in self._starting or any(s is seat for s, _ in self._queue)):
                self._check_one_run_per_computer(seat)
                self._queue.append((seat, start))
                if self.training() >= self.max_runs:
                    seat.session.report("info", self.full_line())
        self._wake.set()
        return self.ahead(seat)

    def full_line(self) -> str:
        """Why a student waits: the class trains as many runs as it may."""
        return (
            f"The class has {plural(self.max_runs, 'run')} training, {self.limit_by}: yours starts by itself as "
            f"soon as one of them pauses or stops."
        )

    def _check_one_run_per_computer(self, seat: Seat) -> None:
        """One run per computer: a second browser (a private window, another browser) is a second seat, but
        not a second run (a worker process) nor a second share of the class's slots. The teacher and this
        machine's own pages (address "") are not counted."""
        if seat.teacher or not seat.address:
            return
        busy = {s for s, _ in self._queue} | self._starting | {s for s in self.seats.values() if s.session.run.alive}
        if any(other.address == seat.address and other is not seat and not other.teacher for other in busy):
            raise ClassError(
                "another page on your computer already has a run: one run per student (go on in that page, "
                "or close it and wait a few seconds)"
            )

    def leave_queue(self, seat: Seat) -> None:
        with self._lock:
            self._queue = [(s, start) for s, start in self._queue if s is not seat]

    def ahead(self, seat: Seat) -> int | None:
        """Students waiting before this one (0 while its run is being started), or None when not waiting."""
        with self._lock:
            if seat in self._starting:
                return 0
            for position, (waiting, _) in enumerate(self._queue):
                if waiting is seat:
                    return position
        return None

    def waiting(self) -> int:
        with self._lock:
            return len(self._queue)

    def dispatch(self) -> None:
        """Start the first waiting runs while places are free, in order: called by the queue's own thread
        only, so no page waits for another student's worker to start. Each run starts on a thread of its own,
        outside the class's lock (a worker takes a second or more to build its model, and thirty students who
        press Train together must all train within seconds), counted meanwhile so no other takes its place."""
        while True:
            with self._lock:
                gone = [seat for seat, _ in self._queue if not seat.present()]
                self._queue = [(seat, start) for seat, start in self._queue if seat not in gone]
                for seat in gone:
                    seat.session.report(
                        "warning", "You left the queue: the page stopped answering. Press Train to queue again."
                    )
                if not self._queue:
                    return
                full = self.training() >= self.max_runs
                if full and (over := self._turn_over()) is None:
                    return
                if not full:
                    seat, start = self._queue.pop(0)
                    self._starting.add(seat)
            if full:  # pause it and queue it at the back: a slot is free next time round
                if not over.session.end_turn():
                    return
                continue
            threading.Thread(target=self._start, args=(seat, start), name="explorer-class-start", daemon=True).start()

    def _start(self, seat: Seat, start: Callable[[], None]) -> None:
        waited = seat.session.flash
        try:
            start()
            if waited is not None and seat.session.flash is waited and waited.text == self.full_line():
                seat.session.flash = None  # it trains now: the why of its wait is old news
        except ExplorerError as err:
            seat.session.report("error", str(err))
        except Exception as err:  # noqa: BLE001 - one student's failed start must not stop the queue
            seat.session.report("error", f"could not start the run: {type(err).__name__}: {err}")
        finally:
            with self._lock:
                self._starting.discard(seat)
                self._turn_began[seat] = time.monotonic()

    def _turn_over(self) -> Seat | None:
        """The training run whose turn began longest ago, once it has had a whole turn (under the lock)."""
        now = time.monotonic()
        training = [seat for seat in self.seats.values() if seat.training()]
        began = {seat: self._turn_began.setdefault(seat, now) for seat in training}
        oldest = min(training, key=began.get, default=None)
        return oldest if oldest is not None and now - began[oldest] >= self.turn_s else None

    def _dispatch_forever(self) -> None:
        while True:
            self._wake.wait(DISPATCH_S)  # a Train press wakes it at once; slots freed are seen within DISPATCH_S
            self._wake.clear()
            try:
                self.dispatch()
            except Exception as err:  # noqa: BLE001 - the queue must outlive any one page's trouble
                print(f"explorer: class queue: {type(err).__name__}: {err}", flush=True)

    # ------------------------------------------------------------------------------------ predictions
    def tally(self, token: str | None) -> list[dict]:
        """The class's predictions against what happened, one row per knob move: how many guessed each
        way, how many were right."""
        self.check_teacher(token)
        rows: dict[str, dict] = {}
        with self._lock:
            seats = [seat for seat in self.seats.values() if not seat.teacher]
            away = [Prediction(**p) for seat in self._returning.values() for p in seat["predictions"]]
        known = [p for seat in seats for p in seat.session.predictions if p.outcome is not None]
        known += [p for p in away if p.outcome is not None]  # students not back since a restart
        for p in known:
            row = rows.setdefault(p.move, {"move": p.move, "predictions": 0, "right": 0} | _zero_counts())
            row["predictions"] += 1
            row["right"] += p.right
            row[f"guessed {p.guess}"] += 1
            row[f"went {p.outcome}"] += 1
        return sorted(rows.values(), key=lambda r: -r["predictions"])


def _zero_counts() -> dict[str, int]:
    return {f"{what} {way}": 0 for what in ("guessed", "went") for way in ("down", "stay", "up")}


def claim_class(name: str, store_path=None) -> None:
    """Refuse a second server for a class already served on this machine from this store: two would each give
    out its seats and set its lesson. The claim is the serving process, so a crashed server's claim lapses."""
    store = RunStore(store_path)
    held = store.class_state(name).get("server")
    if held and held["host"] == HOST and held["pid"] != os.getpid() and process_alive(held["pid"], held["start"]):
        raise ClassError(
            f"class {name!r} is already being served here (process {held['pid']}): stop that one, or pick another "
            f"--name"
        )
    store.save_class_state(name, "server", {"host": HOST, "pid": os.getpid(), "start": process_start(os.getpid())})


def classroom_from_env() -> Classroom | None:
    """The class a server was started for (`explorer class` sets these), or None: the app as usual."""
    if not (name := os.environ.get("EXPLORER_CLASS")):
        return None
    token = os.environ.get("EXPLORER_CLASS_TOKEN") or None
    max_runs = int(os.environ.get("EXPLORER_MAX_RUNS") or 0) or None
    turn_s = float(os.environ.get("EXPLORER_TURN_S") or TURN_S)
    max_seats = int(os.environ.get("EXPLORER_MAX_STUDENTS") or MAX_SEATS)
    ray = os.environ.get(RAY_ENV) or None  # `explorer class --ray`: the runs train on that cluster
    return Classroom(name, token=token, max_runs=max_runs, turn_s=turn_s, max_seats=max_seats, ray=ray)


_THE_CLASS: list[Classroom | None] = []  # made once per server process, on first use
_THE_CLASS_LOCK = threading.Lock()


def the_classroom() -> Classroom | None:
    """The server's one class (None outside class mode), held here for the process's life: not in
    `st.cache_resource`, which any client could clear with one websocket message, resetting every lock and
    seat and starting a second queue beside the first."""
    with _THE_CLASS_LOCK:
        if not _THE_CLASS:
            _THE_CLASS.append(classroom_from_env())
        return _THE_CLASS[0]
