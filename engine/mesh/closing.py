"""What the mesh's servers share: each is closed when the ``async with`` block holding it ends.

async with await serve_tcp(pool, "127.0.1.1", 8080) as listener:
    ...
"""

from __future__ import annotations

from typing import Self

__all__ = ["Closing"]


class Closing:
    """A server closed by ``close``, and at the end of an ``async with`` block."""

    async def close(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._close_on_exit()

    async def _close_on_exit(self) -> None:
        await self.close()
