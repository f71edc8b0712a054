"""Resolving references across a repository: which entity a call, a base class or an import means.

A call or a base class becomes a relationship only when it resolves to an entity of the same
repository — by `self.`/`this.` inside a class, by an imported alias, by a name of the same module,
or by a simple name that only one entity of the repository has. Anything else (a builtin, a library)
is dropped. Imports are kept either way: to the module's entity when it is in the repository, marked
external otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable

from sparkctl.services.common.parsed import ParsedFile, Reference, Relationship

SELF_PREFIXES = ("self.", "this.", "super().", "Self::", "self::", "this->")


class SymbolIndex:
    """Every entity of a repository by qualified name, and by simple name. It depends on the names alone, so a
    worker that kept the names of unchanged files (worker/symbols.py) builds it without parsing them again."""

    def __init__(self, files: list[ParsedFile]) -> None:
        self._index_names(entity.name for parsed in files for entity in parsed.entities)

    @classmethod
    def of_names(cls, names: Iterable[str]) -> SymbolIndex:
        index = cls.__new__(cls)
        index._index_names(names)
        return index

    def _index_names(self, names: Iterable[str]) -> None:
        self.names: set[str] = set()
        self.unique: dict[str, str] = {}
        self.reexported: dict[str, str] = {}
        """`httpx.Client` → `httpx._client.Client`: a package re-exporting a name of one of its modules."""
        shared: set[str] = set()
        shared_short: set[str] = set()
        for name in names:
            self.names.add(name)
            head, _, simple = name.rpartition(".")
            if self.unique.setdefault(simple, name) != name:
                shared.add(simple)
            package, dot, _ = head.rpartition(".")
            if dot and self.reexported.setdefault(f"{package}.{simple}", name) != name:
                shared_short.add(f"{package}.{simple}")
        for simple in shared:
            del self.unique[simple]
        for short in shared_short:
            del self.reexported[short]

    def resolve(self, reference: Reference, module: str, imports: dict[str, str]) -> str | None:
        target = reference.target
        if target.startswith(SELF_PREFIXES):
            prefix = next(prefix for prefix in SELF_PREFIXES if target.startswith(prefix))
            owner = _owner_type(reference.source, self.names)
            found = f"{owner}.{target[len(prefix) :]}" if owner else None
            return found if found in self.names else None
        target = target.replace("::", ".").replace("->", ".")
        head, _, rest = target.partition(".")
        candidates = []
        if head in imports:
            candidates.append(imports[head] + (f".{rest}" if rest else ""))
        candidates += [f"{module}.{target}", target]
        for candidate in candidates:
            if candidate in self.names:
                return candidate
            if candidate in self.reexported:
                return self.reexported[candidate]
        simple = target.rsplit(".", 1)[-1]
        if "." not in target or head in ("self", "this"):
            return self.unique.get(simple)
        return None


def link(files: list[ParsedFile], index: SymbolIndex | None = None) -> list[ParsedFile]:
    """The same files with their references resolved into relationships (contains are kept as they are), against
    `index` (default: the files' own entities)."""
    index = index or SymbolIndex(files)
    return [link_file(parsed, index) for parsed in files]


def link_file(parsed: ParsedFile, index: SymbolIndex) -> ParsedFile:
    """One file with its references resolved against the repository's index."""
    module = parsed.entities[0].name if parsed.entities else ""
    relationships = [r for r in parsed.relationships if r.kind == "contains"]
    seen = {(r.source, r.target, r.kind) for r in relationships}
    for reference in parsed.references:
        relationship = _relationship(index, reference, module, parsed)
        if relationship and (relationship.source, relationship.target, relationship.kind) not in seen:
            seen.add((relationship.source, relationship.target, relationship.kind))
            relationships.append(relationship)
    return parsed.model_copy(update={"relationships": relationships})


def _relationship(index: SymbolIndex, reference: Reference, module: str, parsed: ParsedFile) -> Relationship | None:
    if reference.kind == "imports":
        if reference.target == reference.source:
            return None
        internal = reference.target if reference.target in index.names else None
        return Relationship(
            source=reference.source,
            target=internal or reference.target,
            kind="imports",
            file=parsed.path,
            line=reference.line,
            external=internal is None,
        )
    resolved = index.resolve(reference, module, parsed.imports)
    if resolved is None or resolved == reference.source:
        return None
    return Relationship(
        source=reference.source, target=resolved, kind=reference.kind, file=parsed.path, line=reference.line
    )


def _owner_type(source: str, names: set[str]) -> str | None:
    """The class a method belongs to: `pkg.mod.Client.send` → `pkg.mod.Client`."""
    owner = source.rsplit(".", 1)[0]
    return owner if owner in names else None
