"""Where CLI results go: JSON lines, a table sized to the terminal, or tab-separated text.

- `--json`: one object per line in the API's wire shape (`to_json`), flushed page by page
  so a consumer such as jq sees each page as it arrives.
- stdout a terminal: a table. Its layout is fixed from the first page (or from the column
  limits when streaming) and then kept, so rows can be printed the moment they arrive.
- otherwise: tab-separated values, every column, no header, nothing cut: for cut/awk.

Progress goes to stderr only when stderr is a terminal, as one line redrawn in place; it
is wiped before any row is printed to the same terminal.
"""

from __future__ import annotations

import shutil
import time
from typing import TYPE_CHECKING, Any, TextIO

from qoder_async import to_json

if TYPE_CHECKING:
    from collections.abc import Sequence

    from qoder_async._cli_views import Column, View

__all__ = ["Output", "Progress", "RateMeter", "fit_columns"]

GAP = "  "
# Rows buffered before a table's layout is fixed, when no page boundary comes sooner.
SAMPLE_ROWS = 100


class Progress:
    """A one-line status on stderr, redrawn in place at most every `min_interval` seconds.

    Silent unless enabled (the CLI enables it only when stderr is a terminal).
    """

    def __init__(self, stream: TextIO, *, enabled: bool, min_interval: float = 0.1) -> None:
        self._stream = stream
        self.enabled = enabled
        self.visible = False
        self._min_interval = min_interval
        self._last = float("-inf")

    def show(self, text: str, *, force: bool = False) -> None:
        """Replace the status line with `text` (dropped if the last redraw was too recent)."""
        if not self.enabled:
            return
        now = time.monotonic()
        if not force and now - self._last < self._min_interval:
            return
        self._last = now
        width = shutil.get_terminal_size().columns
        self._stream.write("\r" + text[: max(width - 1, 1)] + "\x1b[K")
        self._stream.flush()
        self.visible = True

    def clear(self) -> None:
        """Wipe the status line, if one is shown."""
        if self.visible:
            self._stream.write("\r\x1b[K")
            self._stream.flush()
            self.visible = False


class RateMeter:
    """Counts items and shows `N <unit> (R/s)` plus an optional suffix as progress."""

    def __init__(self, progress: Progress, unit: str) -> None:
        self._progress = progress
        self._unit = unit
        self._start = time.monotonic()
        self.count = 0

    def add(self, n: int = 1, *, suffix: str = "") -> None:
        """Count `n` more items and redraw the status line if it is time to."""
        self.count += n
        if self._progress.enabled:
            elapsed = max(time.monotonic() - self._start, 1e-6)
            rate = self.count / elapsed
            self._progress.show(f"{self.count} {self._unit} ({rate:,.0f}/s){suffix}")


def fit_columns(
    columns: Sequence[Column[Any]],
    natural: Sequence[int],
    width: int,
) -> list[tuple[Column[Any], int]]:
    """Choose the columns to show and their widths so a row fits in `width` characters.

    Flexible columns shrink first (down to their `min_width`, never below the header);
    then the least important column (highest `priority`, rightmost first) is dropped, and
    so on. Priority-0 columns are always kept, even if the row then overflows.
    """
    shown = list(range(len(columns)))
    while True:
        widths = {i: natural[i] for i in shown}
        excess = sum(widths.values()) + len(GAP) * (len(shown) - 1) - width
        for i in sorted(shown, key=lambda i: (-columns[i].priority, -i)):
            if excess <= 0:
                break
            column = columns[i]
            if column.flexible:
                floor = max(column.min_width, len(column.header))
                cut = min(excess, max(widths[i] - floor, 0))
                widths[i] -= cut
                excess -= cut
        droppable = [i for i in shown if columns[i].priority > 0]
        if excess <= 0 or not droppable:
            return [(columns[i], widths[i]) for i in shown]
        shown.remove(max(droppable, key=lambda i: (columns[i].priority, i)))


class Output:
    """Writes the objects a command produces in the format the options and stdout call for.

    `streaming` (for `runs watch`) sizes flexible table columns to their limits rather
    than to the first rows, since rows arrive one at a time.
    """

    def __init__(
        self, *, json_lines: bool, stdout: TextIO, stderr: TextIO, streaming: bool = False
    ) -> None:
        self.json_lines = json_lines
        stdout_tty = _isatty(stdout)
        self.human = not json_lines and stdout_tty
        self.progress = Progress(stderr, enabled=_isatty(stderr))
        self._stdout = stdout
        self._stderr = stderr
        self._shares_terminal = stdout_tty and self.progress.enabled
        self._streaming = streaming
        self._pending: list[object] = []
        self._view: View[Any] | None = None
        self._layout: list[tuple[Column[Any], int]] | None = None
        encoding = (getattr(stdout, "encoding", None) or "").lower().replace("-", "")
        self._ellipsis = "\u2026" if encoding.startswith("utf") else "..."

    def item(self, obj: object, view: View[Any]) -> None:
        """One element of a listing."""
        if self.json_lines:
            self._line(to_json(obj))
        elif not self.human:
            self._line("\t".join(_plain(column.cell(obj, False)) for column in view.columns))
        elif self._layout is None:
            self._view = view
            self._pending.append(obj)
            if len(self._pending) >= SAMPLE_ROWS:
                self._lay_out()
        else:
            self._line(self._row(obj))

    def end_page(self) -> None:
        """Print what is buffered and flush: a page (or a watched run) is complete."""
        if self._pending:
            self._lay_out()
        self._stdout.flush()

    def show(self, obj: object, view: View[Any]) -> None:
        """One object on its own, field by field (a JSON line with --json)."""
        if self.json_lines:
            self._line(to_json(obj))
        else:
            details = view.details(obj)
            pad = max((len(label) for label, _ in details), default=0)
            for label, value in details:
                if self.human:
                    self._line(f"{label + ':':<{pad + 1}} {value}")
                else:
                    self._line(f"{label}\t{_plain(value)}")
        self._stdout.flush()

    def note(self, text: str) -> None:
        """A message for the user on stderr (always shown, unlike progress)."""
        self.progress.clear()
        self._stderr.write(text + "\n")
        self._stderr.flush()

    def close(self) -> None:
        """Print what is still buffered and wipe the progress line."""
        self.progress.clear()
        self.end_page()

    def _lay_out(self) -> None:
        view = self._view
        assert view is not None  # noqa: S101 - set with the first pending row
        natural = []
        for column in view.columns:
            cells = [len(column.cell(obj, True)) for obj in self._pending]
            size = max([len(column.header), *cells])
            if column.flexible and self._streaming:
                # Rows come one at a time: no sample to size the column by.
                size = max(column.stream_width, len(column.header))
            natural.append(size)
        width = shutil.get_terminal_size().columns
        self._layout = fit_columns(view.columns, natural, width)
        self._line(self._join([column.header for column, _ in self._layout]))
        pending, self._pending = self._pending, []
        for obj in pending:
            self._line(self._row(obj))

    def _row(self, obj: object) -> str:
        assert self._layout is not None  # noqa: S101 - called after _lay_out
        return self._join([column.cell(obj, True) for column, _ in self._layout])

    def _join(self, cells: list[str]) -> str:
        assert self._layout is not None  # noqa: S101 - called after _lay_out
        out = []
        last = len(cells) - 1
        for index, (cell, (_, size)) in enumerate(zip(cells, self._layout, strict=True)):
            text = _plain(cell)
            if len(text) > size:
                text = text[: max(size - len(self._ellipsis), 0)] + self._ellipsis
            out.append(text if index == last else text.ljust(size))
        return GAP.join(out)

    def _line(self, text: str) -> None:
        if self._shares_terminal:
            self.progress.clear()
        self._stdout.write(text + "\n")


def _plain(text: str) -> str:
    """`text` on one line: tabs and line breaks would break the row apart."""
    return text.replace("\t", " ").replace("\r", " ").replace("\n", " ")


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # closed or replaced by something without a fd
        return False
