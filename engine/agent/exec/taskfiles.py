"""A task's secret and config files on the host of the Docker Engine that runs it, as swarm's
agent makes them: written into a folder of the task's own on a tmpfs (never on disk), with the
owner and mode its references ask for, bind-mounted read-only into the container, and deleted
when the task stops.

The engine that runs the container must see this host's files: a local engine (a unix socket, or
an engine in a network namespace of this host). The folder is the engine process's alone
(0700); the container sees only the file mounted into it.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

from engine.agent.exec import TaskError
from engine.api.objects import Config, Secret, Task
from engine.api.secrets import TaskFile, task_files

__all__ = ["Dependency", "TaskFiles", "default_root"]

Dependency = Callable[[str], Secret | Config | None]  # a secret or config by ID
SHARED_MEMORY = Path("/dev/shm")  # a tmpfs on Linux: what is written there never reaches a disk


def default_root() -> Path:
    """Where task folders go: a folder of this process's user on the shared-memory tmpfs."""
    base = SHARED_MEMORY if SHARED_MEMORY.is_dir() else Path(tempfile.gettempdir())
    return base / f"swarmdeck-{os.getuid()}"


class TaskFiles:
    """The task folders under ``root``, one per task that has files."""

    def __init__(self, root: Path, dependency: Dependency) -> None:
        self._root = root
        self._dependency = dependency

    def write(self, task: Task) -> list[tuple[TaskFile, Path]]:
        """Writes the task's files; returns each with where it is on this host.

        Raises:
            TaskError: a secret or config that is gone, or a file that cannot be written
                (another owner than this process's needs it to run as root).
        """
        spec = task.spec.container_spec
        files = task_files(spec.secrets, spec.configs) if spec else []
        if not files:
            return []
        folder = self._root / task.id
        self._root.mkdir(mode=0o700, exist_ok=True)
        os.chmod(self._root, 0o700)
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(mode=0o700)
        written = []
        for number, file in enumerate(files):
            source = self._dependency(file.source_id)
            if source is None or source.spec.data is None:
                raise TaskError(f"{file.kind} {file.source_name} not found")
            path = folder / f"{number}-{file.kind}-{file.source_id}"
            descriptor = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_EXCL, 0o600)
            try:
                with os.fdopen(descriptor, "wb") as out:
                    out.write(source.spec.data)
                os.chown(path, file.uid, file.gid)
                os.chmod(path, file.mode)
            except OSError as error:
                self.remove(task.id)
                raise TaskError(
                    f"{file.kind} {file.source_name}: cannot be written as asked "
                    f"(UID {file.uid}, GID {file.gid}, mode {file.mode:04o}): {error.strerror}"
                ) from None
            written.append((file, path))
        return written

    def remove(self, task_id: str) -> None:
        """Deletes the task's files, if it has any."""
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(self._root / task_id)
