"""A child process with its output in a log file: started, polled and stopped the same way for Triton and
for every other service the local stack runs."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from typing import Self


class ManagedProcess:
    """The child process :meth:`launch` describes, its output appended to ``log`` (or inherited without
    one); a context manager that stops it on exit."""

    stop_timeout_s = 30.0  # how long :meth:`stop` waits after SIGTERM before SIGKILL

    def __init__(self, log: Path | None) -> None:
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    def launch(self) -> tuple[list[str], dict[str, str] | None]:
        """The command line and environment (None: this process's) to start with."""
        raise NotImplementedError

    def start(self) -> Self:
        command, env = self.launch()
        if self.log is None:
            self.process = subprocess.Popen(command, env=env)
        else:
            with self.log.open("ab") as output:  # the child keeps its own copy of the file
                self.process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
        return self

    @property
    def returncode(self) -> int | None:
        """None while it runs (or before it started), else its exit status."""
        return None if self.process is None else self.process.poll()

    def stop(self, timeout_s: float | None = None) -> int | None:
        """SIGTERM (a clean shutdown), then SIGKILL if it has not exited within ``timeout_s`` (default:
        :attr:`stop_timeout_s`)."""
        if self.process is None or self.process.poll() is not None:
            return self.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(self.stop_timeout_s if timeout_s is None else timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def log_tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log and self.log.exists() else ""

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()
