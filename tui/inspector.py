"""The inspector: why and how the models were ensembled at one position of a reply.

For an EnsembleEvent it shows the drafted and the chosen string, why SAFE ensembled there (C1:
every verifier's argmax is its aligned token; C2: the weighted mean probability of the aligned
tokens against the threshold; sampled, the acceptance test u·q(t) ≤ P*(t) it ran instead), the weights and the sharpening, then per model its aligned token,
that token's probability over the model's vocabulary, whether it was the model's own choice and
its best candidates as shares of the union's strings, and finally the ensemble's candidates
after sharpening. Left/right walk through the reply's other
ensembled positions. It reads events only; it never talks to the engine.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Footer, Static

from safe_local import EnsembleEvent, GenerationConfig
from tui import keys
from tui.status import DRAFTER_MARK

BAR_WIDTH = 6
# The default C2 threshold: what an event stored before events carried their own was held against,
# unless a preset changed it (a preset's options may set consensus_threshold).
C2_DEFAULT = GenerationConfig().consensus_threshold


def show_token(s: str) -> str:
    """A token as a quoted string with its whitespace visible."""
    return '"' + s.replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace('"', '\\"') + '"'


def bar(p: float) -> str:
    """p as a bar of BAR_WIDTH cells, in eighths of a cell."""
    eighths = round(max(0.0, min(1.0, p)) * BAR_WIDTH * 8)
    full, part = divmod(eighths, 8)
    return ("█" * full + (" ▏▎▍▌▋▊▉"[part] if part else "")).ljust(BAR_WIDTH)


def why(event: EnsembleEvent) -> str:
    """One sentence on what made the engine ensemble at this position."""
    if event.test is not None:
        t = event.test
        sign, outcome = ("≤", "kept") if t.kept else (">", "redrawn from the rest of P*")
        return (f"sampling — C1 not checked (sampling), C2 not used; acceptance test u·q = {t.u:.3f}·{t.proposal:.3f} "
                f"{sign} P* = {t.target:.3f}, so the drafted token was {outcome}")
    if event.c1 is None and event.c2 is None:
        return f"{event.base}: this method ensembles every position it decides (no consensus test)"
    c1 = "not checked (sampling)" if event.c1 is None else ("held" if event.c1 else "failed: a verifier preferred another token")
    threshold = event.c2_threshold if event.c2_threshold is not None else C2_DEFAULT
    c2 = f"{event.c2:.3f} ≤ {threshold:g}" if event.c2 is not None else "not computed"
    return f"no consensus — C1 {c1}; C2 {c2}, so the drafted token was put to the vote"


def candidates(top: list[tuple[str, float]], chosen: str | None = None) -> Content:
    lines = []
    for token, p in top:
        style = "bold $text-success" if token == chosen else ""
        lines.append(Content.assemble(f"{p:5.3f} ", (bar(p), "$primary"), " ", (show_token(token), style)))
    return Content("\n").join(lines)


def summary(event: EnsembleEvent, total: int) -> Content:
    verdict = ("[$text-warning]replaced[/]" if event.replaced else "[$text-success]confirmed[/]")
    drafted = show_token(event.drafted) if event.drafted else "—"
    return Content("\n").join([
        Content.from_markup(
            "[b]Ensembled position $n of $total[/] · character $offset",
            n=event.index + 1, total=total, offset=event.char_offset,
        ),
        Content.from_markup("drafted $d → chosen [b]$c[/] ", d=drafted, c=show_token(event.chosen))
        + Content.from_markup(verdict),
        Content.from_markup("[dim]why:[/] $why", why=why(event)),
        Content.from_markup(
            "[dim]base:[/] $base · [dim]sharpening:[/] $sharp · [dim]weights:[/] $weights",
            base=event.base,
            sharp=event.sharpening or "none applied",
            weights=", ".join(f"{w:.2f}" for w in event.weights),
        ),
    ])


def model_block(event: EnsembleEvent, m: int) -> Content:
    """One model's column: its aligned token, that token's probability, its weight, its candidates."""
    view = event.models[m]
    own = "[$text-success]✓ its top choice[/]" if view.agrees else "[$text-warning]✗ not its top choice[/]"
    return Content("\n").join([
        Content.from_markup("aligned [b]$tok[/]", tok=show_token(view.token)),
        Content.from_markup("p=$p  w=$w", p=f"{view.prob:.3f}",
                            w=f"{event.weights[m]:.2f}" if m < len(event.weights) else "?"),
        Content.from_markup(own),
        # p= is over the model's whole vocabulary; the bars are renormalized over the union's
        # strings, so the same token reads higher below (0.528 against p=0.438 in one real event).
        Content.from_markup("[dim]share among the union's strings:[/]"),
        candidates(view.top, event.chosen),
    ])


def ensemble_block(event: EnsembleEvent) -> Content:
    return Content("\n").join([
        Content.from_markup("chose [b]$c[/]", c=show_token(event.chosen)),
        Content.from_markup("[dim]after sharpening: $s[/]", s=event.sharpening or "none"),
        Content(""),
        Content.from_markup("[dim]weighted, sharpened shares:[/]"),
        candidates(event.top, event.chosen),
    ])


class InspectorScreen(ModalScreen[None]):
    """Modal view of `events[index]`; left/right move through the reply's positions."""

    BINDINGS = keys.bindings(keys.INSPECTOR)

    def __init__(self, events: list[EnsembleEvent], index: int) -> None:
        super().__init__()
        self.events = events
        self.index = index

    def compose(self) -> ComposeResult:
        with Vertical(id="inspector"):
            yield Static(id="summary")
            with Horizontal(id="columns"):
                for m, view in enumerate(self.events[self.index].models):
                    box = Static(classes="model", id=f"model-{m}")
                    box.border_title = f"{DRAFTER_MARK} {view.name}" if m == 0 else view.name
                    yield box
                box = Static(classes="model", id="ensemble")
                box.border_title = "Ensemble"
                yield box
            yield Footer()

    def on_mount(self) -> None:
        self.show()

    def show(self) -> None:
        event = self.events[self.index]
        self.query_one("#summary", Static).update(summary(event, len(self.events)))
        for m in range(len(event.models)):
            self.query_one(f"#model-{m}", Static).update(model_block(event, m))
        self.query_one("#ensemble", Static).update(ensemble_block(event))

    def action_move(self, step: int) -> None:
        self.index = max(0, min(len(self.events) - 1, self.index + step))
        self.show()

    def action_close(self) -> None:
        self.dismiss(None)
