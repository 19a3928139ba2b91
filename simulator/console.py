"""Terminal input and output for the sandbox: a prompt that never blocks the event loop."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import sys
import threading
from pathlib import Path
from types import ModuleType
from typing import TextIO

HISTORY_LINES = 1000


def _readline() -> ModuleType | None:
    """GNU readline (line editing, history) where this Python has it."""
    try:
        return importlib.import_module("readline")
    except ImportError:  # pragma: no cover - depends on the Python build
        return None


class Console:
    """Prints lines; reads lines with a prompt in a daemon thread, with readline history."""

    def __init__(self, stream: TextIO | None = None, *, history: Path | None = None) -> None:
        self._stream = stream or sys.stdout
        self._history = history
        self._prompt: str | None = None
        self._lock = threading.Lock()
        # Only a person at a prompt needs line editing; scripts never load readline.
        self._readline = _readline() if history is not None else None
        if history is not None and self._readline is not None:
            with contextlib.suppress(OSError):
                self._readline.read_history_file(history)
            self._readline.set_history_length(HISTORY_LINES)

    @property
    def is_terminal(self) -> bool:
        """Whether output goes to a terminal (so the prompt can be redrawn)."""
        return self._stream.isatty()

    def print(self, text: str) -> None:
        """Print text; while a prompt waits for input, redraw it (and what was typed) below."""
        with self._lock:
            if self._prompt is not None and self.is_terminal:
                typed = self._readline.get_line_buffer() if self._readline is not None else ""
                self._stream.write(f"\r\x1b[K{text}\n{self._prompt}{typed}")
            else:
                self._stream.write(text + "\n")
            self._stream.flush()

    async def read(self, prompt: str) -> str | None:
        """One line from stdin, or None at end of input (Ctrl-D)."""
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[str | None] = loop.create_future()

        def deliver(value: str | None) -> None:
            if not answer.done():
                answer.set_result(value)

        def worker() -> None:
            try:
                value: str | None = input(prompt)
            except (EOFError, OSError, ValueError):
                value = None
            # The loop may already be gone when the person quits with Ctrl-C.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(deliver, value)

        # A daemon thread: a pending input() must never keep the process alive at exit.
        threading.Thread(target=worker, name="sandbox-input", daemon=True).start()
        self._prompt = prompt
        try:
            return await answer
        finally:
            self._prompt = None

    def save_history(self) -> None:
        """Keep typed lines for the next session."""
        if self._history is not None and self._readline is not None:
            with contextlib.suppress(OSError):
                self._readline.write_history_file(self._history)
