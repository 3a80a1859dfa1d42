"""The lab's images: a root filesystem of the host's static busybox, through ``docker import``."""

from __future__ import annotations

import io
import json
import subprocess
import tarfile

from engine.lab.host import BUSYBOX

__all__ = ["IMAGES", "busybox_tar", "image_changes"]

IMAGES = ("local/busybox:1", "local/busybox:2")


def busybox_tar() -> bytes:
    """A root filesystem of the static busybox and a link for each of its applets."""
    applets = subprocess.run(
        [str(BUSYBOX), "--list"], capture_output=True, text=True, check=True
    ).stdout.split()
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for folder in ("bin", "tmp", "www", "etc"):
            info = tarfile.TarInfo(folder)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if folder == "tmp" else 0o755
            tar.addfile(info)
        tar.add(BUSYBOX, "bin/busybox")
        for applet in applets:
            if applet != "busybox":
                link = tarfile.TarInfo(f"bin/{applet}")
                link.type, link.linkname = tarfile.SYMTYPE, "busybox"
                tar.addfile(link)
    return buffer.getvalue()


def image_changes(version: int) -> list[str]:
    """Says a line every two seconds, so logs and metrics have something to show, and stops
    at once on SIGTERM (a shell as PID 1 would otherwise ignore it for the grace period)."""
    loop = (
        'trap "exit 0" TERM INT; '
        'while true; do echo "$(date) $(hostname) version $VERSION"; sleep 2 & wait $!; done'
    )
    return [
        f"ENV VERSION={version}",
        "ENV PATH=/bin",
        f"CMD {json.dumps(['sh', '-c', loop])}",
    ]
