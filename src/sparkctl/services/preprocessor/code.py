"""Entities and references of one source file, from one walk over its tree-sitter syntax tree.

Each language is described by a small table (which node types define what, where calls and imports
are); one generic walk does the rest. References (calls, base classes) are kept as written and
resolved across the whole repository by `linking`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Literal

from sparkctl.services.common.parsed import Entity, Reference, Relationship
from sparkctl.services.preprocessor.languages import query_for

Node = Any


@dataclass(frozen=True)
class LanguageSpec:
    definitions: dict[str, str]
    """node type → entity kind (class, struct, interface, trait, enum, function)."""
    scopes: frozenset[str] = frozenset()
    """node types that name a scope without being entities themselves (Rust impl, C++ namespace)."""
    calls: dict[str, str] = field(default_factory=dict)
    """call node type → the field holding the callee."""
    imports: frozenset[str] = frozenset()
    bases: frozenset[str] = frozenset()
    """node types (children of a class) that hold its base classes or interfaces."""
    comment: str = "comment"


_C_LIKE_CALLS = {"call_expression": "function"}
SPECS: dict[str, LanguageSpec] = {
    "python": LanguageSpec(
        definitions={"class_definition": "class", "function_definition": "function"},
        calls={"call": "function"},
        imports=frozenset({"import_statement", "import_from_statement"}),
        bases=frozenset({"argument_list"}),
    ),
    "javascript": LanguageSpec(
        definitions={
            "class_declaration": "class",
            "function_declaration": "function",
            "method_definition": "function",
            "generator_function_declaration": "function",
        },
        calls=_C_LIKE_CALLS,
        imports=frozenset({"import_statement"}),
        bases=frozenset({"class_heritage"}),
    ),
    "go": LanguageSpec(
        definitions={"function_declaration": "function", "method_declaration": "function", "type_spec": "type"},
        calls=_C_LIKE_CALLS,
        imports=frozenset({"import_spec"}),
    ),
    "rust": LanguageSpec(
        definitions={
            "struct_item": "struct",
            "enum_item": "enum",
            "trait_item": "trait",
            "function_item": "function",
            "function_signature_item": "function",
        },
        scopes=frozenset({"impl_item", "mod_item"}),
        calls=_C_LIKE_CALLS,
        imports=frozenset({"use_declaration"}),
        comment="line_comment",
    ),
    "java": LanguageSpec(
        definitions={
            "class_declaration": "class",
            "interface_declaration": "interface",
            "enum_declaration": "enum",
            "record_declaration": "class",
            "method_declaration": "function",
            "constructor_declaration": "function",
        },
        calls={"method_invocation": "name"},
        imports=frozenset({"import_declaration"}),
        bases=frozenset({"superclass", "super_interfaces"}),
        comment="block_comment",
    ),
    "c": LanguageSpec(
        definitions={"function_definition": "function", "struct_specifier": "struct", "enum_specifier": "enum"},
        calls=_C_LIKE_CALLS,
        imports=frozenset({"preproc_include"}),
    ),
}
SPECS["typescript"] = LanguageSpec(
    definitions={
        **SPECS["javascript"].definitions,
        "interface_declaration": "interface",
        "enum_declaration": "enum",
        "abstract_class_declaration": "class",
        "function_signature": "function",
    },
    calls=_C_LIKE_CALLS,
    imports=frozenset({"import_statement"}),
    bases=frozenset({"class_heritage", "extends_type_clause"}),
)
SPECS["tsx"] = SPECS["typescript"]
SPECS["cpp"] = LanguageSpec(
    definitions={**SPECS["c"].definitions, "class_specifier": "class"},
    scopes=frozenset({"namespace_definition"}),
    calls=_C_LIKE_CALLS,
    imports=frozenset({"preproc_include"}),
    bases=frozenset({"base_class_clause"}),
)

_NAME_TYPES = frozenset(
    {
        "identifier",
        "field_identifier",
        "type_identifier",
        "property_identifier",
        "qualified_identifier",
        "destructor_name",
        "operator_name",
    }
)
_SPACE = re.compile(r"\s+")
_SCOPE_SEPARATOR = re.compile(r"::|\.|->")
_COMMENT_OPENING = re.compile(r"^[ \t]*(//+!?|/\*+!?|\*/|\*|#)[ \t]?", re.M)
_COMMENT_CLOSING = re.compile(r"[ \t]*\*+/[ \t]*$", re.M)
MAX_DOC = 600
MAX_SIGNATURE = 300


_PACKAGE_FILES = {
    ".py": "__init__",
    ".pyi": "__init__",
    ".rs": "mod",
    ".js": "index",
    ".ts": "index",
    ".tsx": "index",
    ".jsx": "index",
    ".mjs": "index",
}


def module_name(path: str) -> str:
    """The qualified name of a file: `src/httpx/_client.py` → `httpx._client`; `__init__.py` names its package."""
    posix = PurePosixPath(path)
    parts = list(posix.with_suffix("").parts)
    for layout in (("src", "main", "java"), ("src", "main", "kotlin"), ("src", "test", "java")):
        if tuple(parts[: len(layout)]) == layout and len(parts) > len(layout):
            parts = parts[len(layout) :]
    if parts and parts[0] in ("src", "lib") and len(parts) > 1:
        parts = parts[1:]
    if len(parts) > 1 and parts[-1] == _PACKAGE_FILES.get(posix.suffix):
        parts = parts[:-1]
    return ".".join(part.replace("-", "_") for part in parts)


@dataclass
class Span:
    """A definition's place in the file, for chunking: its lines and its nested definitions."""

    start: int
    end: int
    children: list[Span] = field(default_factory=list)


@dataclass
class _Frame:
    """An open definition or scope while walking: where it ends, what it names, where nested spans go."""

    end: int
    scope: str
    owner: str | None
    spans: list[Span]


def _query(language: str) -> Any:
    spec = SPECS[language]
    captures = (
        *((t, "definition") for t in spec.definitions),
        *((t, "scope") for t in spec.scopes),
        *((t, "import") for t in spec.imports),
        *((t, "call") for t in spec.calls),
    )
    return query_for(language, tuple(captures))


@dataclass
class CodeFacts:
    entities: list[Entity]
    relationships: list[Relationship]
    references: list[Reference]
    imports: dict[str, str]
    spans: list[Span]


class _Walk:
    def __init__(self, path: str, language: str, source: bytes) -> None:
        self.path = path
        self.language = language
        self.spec = SPECS[language]
        self.source = source
        self._ascii = source.decode("ascii") if source.isascii() else None
        self.module = module_name(path)
        self.entities: list[Entity] = []
        self.relationships: list[Relationship] = []
        self.references: list[Reference] = []
        self.imports: dict[str, str] = {}
        self.spans: list[Span] = []
        self.type_scopes: set[str] = set()
        """Qualified names whose functions are methods: classes, structs, traits, Rust impl targets."""
        self._referenced: set[tuple[str, str, str]] = set()

    def refer(self, source: str, target: str, kind: Literal["calls", "inherits", "imports"], line: int) -> None:
        """Record a reference, once per source, target and kind (the first line it appears on)."""
        key = (source, target, kind)
        if key not in self._referenced:
            self._referenced.add(key)
            self.references.append(Reference(source=source, target=target, kind=kind, line=line))

    def text(self, node: Node) -> str:
        return self.slice(node.start_byte, node.end_byte)

    def slice(self, start: int, end: int) -> str:
        """The source between two byte offsets; an ASCII file is decoded once and sliced as text."""
        if self._ascii is not None:
            return self._ascii[start:end]
        return self.source[start:end].decode("utf-8", errors="replace")

    def run(self, root: Node) -> CodeFacts:
        """One pass over the query's captures, in document order; a stack of byte ranges gives each its scope."""
        lines = self.source.count(b"\n") + 1
        self.entities.append(
            Entity(
                name=self.module,
                kind="module",
                file=self.path,
                start_line=1,
                end_line=lines,
                doc=self._module_doc(root),
            )
        )
        stack = [_Frame(end=len(self.source) + 1, scope=self.module, owner=None, spans=self.spans)]
        captures = sorted(_query(self.language).captures(root), key=lambda c: (c[0].start_byte, -c[0].end_byte))
        for node, capture in captures:
            while node.start_byte >= stack[-1].end:
                stack.pop()
            frame = stack[-1]
            if capture == "definition":
                pushed = self._definition(node, self.spec.definitions[node.type], frame)
            elif capture == "scope":
                pushed = self._scope(node, frame)
            elif capture == "import":
                self._import(node, frame.owner or self.module)
                continue
            else:
                self._call(node, frame)
                continue
            if pushed is not None:
                stack.append(pushed)
        return CodeFacts(self.entities, self.relationships, self.references, self.imports, self.spans)

    def _call(self, node: Node, frame: _Frame) -> None:
        callee = node.child_by_field_name(self.spec.calls[node.type])
        if callee is None:
            return
        target = self.text(callee) if node.type != "method_invocation" else self._java_call(node)
        self.refer(frame.owner or self.module, "".join(target.split())[:200], "calls", node.start_point[0] + 1)

    def _definition(self, node: Node, kind: str, frame: _Frame) -> _Frame | None:
        name = self._name(node)
        if name is None:
            return None
        scope = frame.scope
        if kind == "type":
            kind = _go_type_kind(node)
        if kind == "function" and self.language == "go" and node.type == "method_declaration":
            receiver = _go_receiver(self, node)
            if receiver:
                scope = f"{self.module}.{receiver}"
                self.type_scopes.add(scope)
        if kind == "function" and scope in self.type_scopes:
            kind = "method"
        qualified = f"{scope}.{name}"
        if kind in ("class", "struct", "interface", "trait", "enum"):
            self.type_scopes.add(qualified)
        body = node.child_by_field_name("body")
        start, end = node.start_point[0] + 1, node.end_point[0] + 1
        self.entities.append(
            Entity(
                name=qualified,
                kind=kind,
                file=self.path,
                start_line=start,
                end_line=end,
                signature=self._signature(node, body),
                doc=self._doc(node, body),
            )
        )
        self.relationships.append(
            Relationship(source=scope, target=qualified, kind="contains", file=self.path, line=start)
        )
        for child in node.named_children:
            if child.type in self.spec.bases:
                for base in _base_names(self, child):
                    self.refer(qualified, base, "inherits", start)
        span = Span(start, end)
        frame.spans.append(span)
        return _Frame(end=node.end_byte, scope=qualified, owner=qualified, spans=span.children)

    def _scope(self, node: Node, frame: _Frame) -> _Frame:
        """A Rust impl or module, a C++ namespace: names inside it are qualified by its name."""
        target = node.child_by_field_name("type") or node.child_by_field_name("name")
        name = _last_identifier(self.text(target)) if target is not None else None
        if node.type == "impl_item" and name:
            inner = f"{self.module}.{name}"
            self.type_scopes.add(inner)
        else:
            inner = f"{frame.scope}.{name}" if name else frame.scope
        trait = node.child_by_field_name("trait")
        if trait is not None and name:
            self.refer(inner, _last_identifier(self.text(trait)), "inherits", node.start_point[0] + 1)
        return _Frame(end=node.end_byte, scope=inner, owner=frame.owner, spans=frame.spans)

    def _name(self, node: Node) -> str | None:
        named = node.child_by_field_name("name")
        if named is not None:
            return _last_identifier(self.text(named))
        declarator = node.child_by_field_name("declarator")
        while declarator is not None:
            if declarator.type in _NAME_TYPES:
                return _last_identifier(self.text(declarator))
            declarator = declarator.child_by_field_name("declarator") or next(
                (c for c in declarator.named_children if c.type in _NAME_TYPES), None
            )
        return None

    def _signature(self, node: Node, body: Node | None) -> str:
        end = body.start_byte if body is not None else node.end_byte
        text = self.slice(node.start_byte, end)
        return _SPACE.sub(" ", text).strip().rstrip("{:").strip()[:MAX_SIGNATURE]

    def _doc(self, node: Node, body: Node | None) -> str:
        if self.language == "python" and body is not None and body.named_child_count:
            first = body.named_children[0]
            if (
                first.type == "expression_statement"
                and first.named_child_count
                and first.named_children[0].type == "string"
            ):
                return _clean_doc(self.text(first.named_children[0]))
        comments = []
        sibling = node.prev_named_sibling
        line = node.start_point[0]
        while sibling is not None and "comment" in sibling.type and sibling.end_point[0] >= line - 1:
            comments.append(self.text(sibling))
            line = sibling.start_point[0]
            sibling = sibling.prev_named_sibling
        return _clean_doc("\n".join(reversed(comments)))

    def _module_doc(self, root: Node) -> str:
        if self.language == "python" and root.named_child_count:
            first = root.named_children[0]
            if (
                first.type == "expression_statement"
                and first.named_child_count
                and first.named_children[0].type == "string"
            ):
                return _clean_doc(self.text(first.named_children[0]))
        return ""

    def _import(self, node: Node, source: str) -> None:
        line = node.start_point[0] + 1
        for local, target in _imports_of(self, node):
            if local:
                self.imports[local] = target
            self.refer(source, target, "imports", line)

    def _java_call(self, node: Node) -> str:
        obj = node.child_by_field_name("object")
        name = node.child_by_field_name("name")
        return f"{self.text(obj)}.{self.text(name)}" if obj is not None else self.text(name)


def extract_code(path: str, language: str, source: bytes, tree: Any) -> CodeFacts:
    return _Walk(path, language, source).run(tree.root_node)


def _last_identifier(text: str) -> str:
    return _SCOPE_SEPARATOR.split(text.strip())[-1].strip("*& ")


def _clean_doc(text: str) -> str:
    text = text.strip()
    if not text:
        return ""
    for quote in ('"""', "'''", '"', "'"):
        if text.startswith(quote) and text.endswith(quote) and len(text) >= 2 * len(quote):
            text = text[len(quote) : -len(quote)]
            break
    text = _COMMENT_CLOSING.sub("", _COMMENT_OPENING.sub("", text[: MAX_DOC * 4]))
    lines = [line.rstrip() for line in text.splitlines()]
    return "\n".join(line for line in lines if line.strip() not in ("", "*/")).strip()[:MAX_DOC]


def _go_type_kind(node: Node) -> str:
    kind = node.child_by_field_name("type")
    return {"struct_type": "struct", "interface_type": "interface"}.get(kind.type if kind else "", "type")


def _go_receiver(walk: _Walk, node: Node) -> str | None:
    receiver = node.child_by_field_name("receiver")
    if receiver is None:
        return None
    names = re.findall(r"[A-Za-z_][A-Za-z0-9_]*", walk.text(receiver))
    return names[-1] if names else None


def _base_names(walk: _Walk, node: Node) -> list[str]:
    names = []
    for child in node.named_children:
        if child.type in ("keyword_argument", "comment"):
            continue
        text = _SPACE.sub("", walk.text(child))
        text = re.sub(r"<.*>|\[.*\]|\(.*\)", "", text)
        for part in re.split(r"[,]", text.removeprefix("extends").removeprefix("implements")):
            part = re.sub(r"^(extends|implements|public|private|protected|virtual)", "", part)
            if re.fullmatch(r"[A-Za-z_][\w.:]*", part):
                names.append(part.replace("::", "."))
    return names


def _imports_of(walk: _Walk, node: Node) -> list[tuple[str | None, str]]:
    """(local name or None, imported qualified name) for one import node."""
    lang, text = walk.language, walk.text(node)
    if lang == "python":
        return _python_imports(walk, node)
    if lang in ("javascript", "typescript", "tsx"):
        source = node.child_by_field_name("source")
        module = _js_module(walk.path, walk.text(source).strip("'\"`")) if source is not None else ""
        return [(None, module), *_js_bindings(text, module)]
    if lang == "go":
        path = node.child_by_field_name("path")
        module = walk.text(path).strip('"') if path is not None else text.strip('"')
        alias = node.child_by_field_name("name")
        return [(walk.text(alias) if alias is not None else module.rsplit("/", 1)[-1], module)]
    if lang == "java":
        name = text.removeprefix("import").removesuffix(";").replace("static ", "").strip()
        return [(name.rsplit(".", 1)[-1], name)]
    if lang == "rust":
        path = text.removeprefix("pub ").removeprefix("use").removesuffix(";").strip()
        return [(None, path.replace("::", "."))]
    path = node.child_by_field_name("path")
    return [(None, walk.text(path).strip('"<>') if path is not None else text)]


def _js_bindings(text: str, module: str) -> list[tuple[str | None, str]]:
    """Local names an ES import binds: `import d, { a as b } from "m"`, `import * as ns from "m"`."""
    clause = text.split(" from ", 1)[0].replace("import", "", 1).replace("type ", "")
    bindings: list[tuple[str | None, str]] = []
    named = re.search(r"\{(.*)\}", clause, re.S)
    for item in named.group(1).split(",") if named else []:
        name, _, alias = item.strip().partition(" as ")
        if name.strip():
            bindings.append(((alias or name).strip(), f"{module}.{name.strip()}"))
    outside = re.sub(r"\{.*\}", "", clause, flags=re.S)
    namespace = re.search(r"\*\s+as\s+(\w+)", outside)
    if namespace:
        bindings.append((namespace.group(1), module))
    default = re.match(r"\s*(\w+)", re.sub(r"\*\s+as\s+\w+", "", outside))
    if default:
        bindings.append((default.group(1), module))
    return bindings


def _python_imports(walk: _Walk, node: Node) -> list[tuple[str | None, str]]:
    found: list[tuple[str | None, str]] = []
    if node.type == "import_statement":
        for child in node.named_children:
            if child.type == "aliased_import":
                name, alias = child.child_by_field_name("name"), child.child_by_field_name("alias")
                found.append((walk.text(alias), walk.text(name)))
            elif child.type == "dotted_name":
                module = walk.text(child)
                found.append((module.split(".")[0], module.split(".")[0]))
                found.append((None, module))
        return found
    module_node = node.child_by_field_name("module_name")
    module = _python_relative(walk, walk.text(module_node)) if module_node is not None else walk.module
    found.append((None, module))
    for child in node.named_children:
        if child is module_node:
            continue
        if child.type == "aliased_import":
            name, alias = child.child_by_field_name("name"), child.child_by_field_name("alias")
            found.append((walk.text(alias), f"{module}.{walk.text(name)}"))
        elif child.type == "dotted_name":
            found.append((walk.text(child).split(".")[-1], f"{module}.{walk.text(child)}"))
    return found


def _python_relative(walk: _Walk, module: str) -> str:
    """`from ._models import X` inside httpx/_client.py → httpx._models."""
    dots = len(module) - len(module.lstrip("."))
    if not dots:
        return module
    is_package = PurePosixPath(walk.path).stem == "__init__"
    package = walk.module.split(".") if is_package else walk.module.split(".")[:-1]
    base = package[: len(package) - (dots - 1)] if dots > 1 else package
    rest = module[dots:]
    return ".".join([*base, rest] if rest else base)


def _js_module(path: str, spec: str) -> str:
    if not spec.startswith("."):
        return spec
    joined = PurePosixPath(path).parent.joinpath(spec)
    parts: list[str] = []
    for part in joined.parts:
        if part == "..":
            if parts:
                parts.pop()
        elif part != ".":
            parts.append(part)
    return module_name("/".join(parts) + ".js")
