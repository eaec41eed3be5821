"""The places an assignment's data may come from, as its spec declares them, and how to fill each one.

The [data] table of assignment.toml lists its sources in order (`[[data.sources]]`); when no `--data`
is given the grader loads the first that is present. The kinds are mechanisms, named for where they
look; which data set lives there is the spec's business:

- `keras_cache`: `path` under Keras' download cache, $KERAS_HOME/datasets (KERAS_HOME defaulting to
  ~/.keras): a Keras-format .npz file, or a folder of the four IDX files.
- `folder`: an absolute `path` on this machine (an IDX folder or an .npz), such as the folder a
  system package installs.
- `package`: a CSV sample (`resource`) shipped inside an installed Python `package`, one image per
  row followed by its label, split into training and test images with `split_seed`.

Any source may declare `sha256`: a file's digest, or a table of each file's digest in a folder; a
source whose files do not match is refused, never used. `fill` says how to put the data there, and
is shown, with every place looked at, when none holds the data.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

KINDS = ("keras_cache", "folder", "package")
_KEYS = {
    "keras_cache": {"kind", "path", "sha256", "fill"},
    "folder": {"kind", "path", "sha256", "fill"},
    "package": {"kind", "package", "resource", "sha256", "fill", "test_size", "split_seed"},
}
_HEX = frozenset("0123456789abcdef")


class SourceError(ValueError):
    """A [[data.sources]] entry is malformed; the message names the entry and the key."""


@dataclass(frozen=True)
class Source:
    """One declared place for the data: its kind, where it is, the digests its files must have, how to fill it."""

    kind: str
    path: str = ""
    package: str = ""
    resource: str = ""
    sha256: tuple[tuple[str, str], ...] = ()  # (file name, hex digest); one entry for a single file
    fill: str = ""
    test_size: int = 0
    split_seed: int = 0

    def location(self, environ: Mapping[str, str]) -> Path | None:
        """Where the data would be; None when that cannot even be named (a package that is not installed)."""
        if self.kind == "keras_cache":
            return keras_datasets(environ) / self.path
        if self.kind == "folder":
            return Path(self.path)
        root = _package_root(self.package)
        return None if root is None else root / self.resource

    def describe(self, environ: Mapping[str, str]) -> str:
        """The place in words, for messages: "the Keras cache /root/.keras/datasets/x"."""
        if self.kind == "keras_cache":
            return f"the Keras cache {self.location(environ)}"
        if self.kind == "folder":
            return f"the folder {self.path}" if not self.path.endswith(".npz") else f"the file {self.path}"
        where = self.location(environ)
        return f"{self.resource} in the Python package {self.package}" + (f" ({where})" if where else "")

    def how_to_fill(self) -> str:
        """What the user can do to put the data in this place: the spec's `fill`, else a generic sentence."""
        if self.fill:
            return self.fill
        if self.kind == "package":
            return f"pip install {self.package}"
        what = "the .npz file" if self.path.endswith(".npz") else "the four IDX *-ubyte.gz files"
        return f"put {what} there"

    def digests(self) -> dict[str, str]:
        """File name -> the sha256 it must have."""
        return dict(self.sha256)

    def protected(self, environ: Mapping[str, str]) -> list[Path]:
        """Paths a sandbox may not read because they hold this source's data (test labels included)."""
        if self.kind == "keras_cache":
            return [keras_datasets(environ)]
        where = self.location(environ)
        return [] if where is None else [where]


def keras_datasets(environ: Mapping[str, str]) -> Path:
    """Keras' download cache: $KERAS_HOME/datasets, KERAS_HOME defaulting to ~/.keras."""
    home = environ.get("KERAS_HOME") or os.path.join("~", ".keras")
    return Path(home).expanduser() / "datasets"


def parse(entries: object) -> tuple[Source, ...]:
    """The `sources` list of a [data] table as Source objects; SourceError names the entry and key at fault."""
    if entries is None:
        return ()
    if not isinstance(entries, (list, tuple)):
        raise SourceError(f"sources is {type(entries).__name__}; expected a list of [[data.sources]] tables.")
    return tuple(_source(entry, i + 1) for i, entry in enumerate(entries))


def _source(entry: object, number: int) -> Source:
    where = f"[[data.sources]] #{number}"
    if isinstance(entry, Source):
        return entry
    if not isinstance(entry, dict):
        raise SourceError(f"{where} is {type(entry).__name__}; expected a table with a kind ({', '.join(KINDS)}).")
    kind = entry.get("kind")
    if kind not in KINDS:
        raise SourceError(f"{where}: kind = {kind!r}; expected one of {', '.join(KINDS)}.")
    unknown = sorted(set(entry) - _KEYS[kind])
    if unknown:
        raise SourceError(f"{where} ({kind}): unknown key(s) {', '.join(unknown)}; expected "
                          f"{', '.join(sorted(_KEYS[kind]))}.")
    values = {key: entry[key] for key in entry if key != "kind"}
    for key in ("path", "package", "resource", "fill"):
        if key in values and not (isinstance(values[key], str) and values[key]):
            raise SourceError(f"{where} ({kind}): {key} = {values[key]!r}; expected a non-empty string.")
    required = {"keras_cache": ("path",), "folder": ("path",), "package": ("package", "resource")}[kind]
    for key in required:
        if key not in values:
            raise SourceError(f"{where} ({kind}): {key} is required.")
    if kind == "keras_cache" and (Path(values["path"]).is_absolute() or ".." in Path(values["path"]).parts):
        raise SourceError(f"{where} (keras_cache): path = {values['path']!r}; expected a name inside "
                          "$KERAS_HOME/datasets, such as 'name.npz' or a folder's name.")
    if kind == "folder" and not Path(values["path"]).is_absolute():
        raise SourceError(f"{where} (folder): path = {values['path']!r}; expected an absolute path.")
    if kind == "package":
        values.setdefault("split_seed", 0)
        for key, low in (("test_size", 1), ("split_seed", 0)):
            value = values.get(key)
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise SourceError(f"{where} (package): {key} = {value!r}; expected an integer of at least {low} "
                                  "(test_size: the rows held out as test images).")
    values["sha256"] = _digests(values.get("sha256"), values.get("path") or values.get("resource", ""), where)
    return Source(kind=kind, **values)


def _digests(value: object, path: str, where: str) -> tuple[tuple[str, str], ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        table = {Path(path).name: value}
    elif isinstance(value, dict):
        table = value
    else:
        raise SourceError(f"{where}: sha256 is {type(value).__name__}; expected 64 hexadecimal digits, or a table "
                          "of file name = digest.")
    for name, digest in table.items():
        if not (isinstance(digest, str) and len(digest) == 64 and set(digest.lower()) <= _HEX):
            raise SourceError(f"{where}: sha256 of {name} = {digest!r}; expected 64 hexadecimal digits.")
    return tuple((str(name), digest.lower()) for name, digest in table.items())


def _package_root(package: str) -> Path | None:
    # find_spec locates the package without importing it (importing some pulls in heavy dependencies).
    try:
        found = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if found is None:
        return None
    locations = list(found.submodule_search_locations or ([os.path.dirname(found.origin)] if found.origin else []))
    return Path(locations[0]) if locations else None
