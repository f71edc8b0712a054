"""models.toml: every model the platform runs, validated, and looked up by role, name or alias."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterator
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PositiveInt,
    ValidationError,
    model_validator,
)

from sparkctl.errors import CatalogError, UnknownModel
from sparkctl.quantity import parse_quantity

ROLES = ("coding", "reasoning", "extract", "embed", "reranker", "general")
"""What the platform uses a model for. The router and the charts look models up by these."""

RESERVED_NAMES = frozenset({"auto"})
"""Routing names the orchestrator decides itself; no model may take them."""

MODELS_ENV = "SPARKCTL_MODELS"

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_ROUTING_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]*$")


def _dns_label(value: str) -> str:
    if len(value) > 63 or not _DNS_LABEL.match(value):
        raise ValueError(
            f"{value!r} is not a valid DNS-1123 label "
            "(lower-case letters, digits and '-', starting and ending with a letter or digit, "
            "at most 63 characters)"
        )
    return value


def _quantity(value: str) -> str:
    if parse_quantity(value) <= 0:
        raise ValueError(f"{value!r} must be more than zero")
    return value


def _routing_name(value: str) -> str:
    if not _ROUTING_NAME.match(value):
        raise ValueError(f"{value!r} is not a usable model name (letters, digits, . _ : / -)")
    if value in RESERVED_NAMES:
        raise ValueError(f"{value!r} is reserved for the orchestrator's own routing")
    return value


DnsLabel = Annotated[str, AfterValidator(_dns_label)]
Quantity = Annotated[str, AfterValidator(_quantity)]
RoutingName = Annotated[str, AfterValidator(_routing_name)]
NodePort = Annotated[int, Field(ge=30000, le=32767)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Platform(_Strict):
    """The machine everything shares: a DGX Spark unless said otherwise."""

    unified_memory: Quantity = "128Gi"
    system_reserved: Quantity = "16Gi"
    services_memory: Quantity = "14Gi"
    gpu_slices: PositiveInt = 5
    kubernetes_version: Annotated[str, Field(pattern=r"^1\.\d+$")] = "1.34"
    pod_cidr: Annotated[str, Field(pattern=r"^\d{1,3}(\.\d{1,3}){3}/\d{1,2}$")] = "10.244.0.0/16"


class Model(_Strict):
    """One model: where its weights come from, what serves it, what it may use."""

    role: Literal["coding", "reasoning", "extract", "embed", "reranker", "general"]
    name: DnsLabel
    ref: str | None = None
    tag: Annotated[str, Field(min_length=1)]
    source: Literal["ollama", "huggingface"]
    backend: Literal["ollama", "vllm"]
    namespace: DnsLabel = "llm-serving"
    pvc: DnsLabel | None = None
    storage: Quantity
    memory: Quantity
    gpu_slices: Annotated[int, Field(ge=0)] = 1
    context: PositiveInt
    node_port: NodePort | None = None
    tools_alias: RoutingName | None = None
    aliases: tuple[RoutingName, ...] = ()
    thinks: bool = False
    dimensions: PositiveInt | None = None

    @model_validator(mode="after")
    def _embed_models_declare_dimensions(self) -> Model:
        if self.role == "embed" and self.dimensions is None:
            raise ValueError("an embed model needs 'dimensions' (the size of its vectors)")
        if self.role != "embed" and self.dimensions is not None:
            raise ValueError("'dimensions' only applies to embed models")
        return self

    @model_validator(mode="after")
    def _rerankers_are_served_by_vllm(self) -> Model:
        if self.role == "reranker" and self.backend != "vllm":
            raise ValueError(
                f'a reranker needs backend = "vllm" (it is {self.backend!r}): LightRAG asks it through the rerank '
                "API, which Ollama does not serve"
            )
        return self

    @property
    def source_ref(self) -> str:
        """The name at the source: Ollama library name or Hugging Face repo id."""
        return self.ref or self.name

    @property
    def pull_ref(self) -> str:
        """What the source is asked for: `name:tag` for Ollama, the repo id for Hugging Face."""
        return f"{self.source_ref}:{self.tag}" if self.source == "ollama" else self.source_ref

    @property
    def claim_name(self) -> str:
        return self.pvc or f"{self.name}-models"

    @property
    def memory_bytes(self) -> Decimal:
        return parse_quantity(self.memory)

    @property
    def storage_bytes(self) -> Decimal:
        return parse_quantity(self.storage)

    def routing_names(self) -> tuple[str, ...]:
        """Every name a client may ask for to reach this model."""
        names = [self.name, *self.aliases]
        if self.tools_alias:
            names.append(self.tools_alias)
        return tuple(names)


class Budget(BaseModel):
    """What everything in the catalog takes of the platform at once."""

    model_config = ConfigDict(frozen=True)

    models_memory: Decimal
    services_memory: Decimal
    system_reserved: Decimal
    total_memory: Decimal
    unified_memory: Decimal
    gpu_slices: int
    gpu_slices_available: int

    @property
    def memory_fits(self) -> bool:
        return self.total_memory <= self.unified_memory

    @property
    def gpu_fits(self) -> bool:
        return self.gpu_slices <= self.gpu_slices_available


class Catalog(BaseModel):
    """The validated contents of one models.toml."""

    model_config = ConfigDict(frozen=True)

    path: str
    platform: Platform
    models: tuple[Model, ...]

    def __iter__(self) -> Iterator[Model]:  # type: ignore[override]
        return iter(self.models)

    def by_role(self, role: str) -> tuple[Model, ...]:
        """The models of a role, preferred first."""
        return tuple(model for model in self.models if model.role == role)

    def resolve(self, name: str) -> Model:
        """The model a client means by `name`: a model name, alias, tools alias, `ref:tag` or role."""
        for model in self.models:
            if name in model.routing_names() or name == model.pull_ref:
                return model
        by_role = self.by_role(name)
        if by_role:
            return by_role[0]
        raise UnknownModel(
            f"unknown model {name!r}",
            hint="available: " + ", ".join(self.routing_names()),
        )

    def routing_names(self) -> tuple[str, ...]:
        """Every name the catalog can route: roles first, then names and aliases."""
        roles = [role for role in ROLES if self.by_role(role)]
        names = [name for model in self.models for name in model.routing_names()]
        return tuple(roles + names)

    def budget(self) -> Budget:
        models_memory = sum((model.memory_bytes for model in self.models), Decimal(0))
        services = parse_quantity(self.platform.services_memory)
        reserved = parse_quantity(self.platform.system_reserved)
        return Budget(
            models_memory=models_memory,
            services_memory=services,
            system_reserved=reserved,
            total_memory=models_memory + services + reserved,
            unified_memory=parse_quantity(self.platform.unified_memory),
            gpu_slices=sum(model.gpu_slices for model in self.models),
            gpu_slices_available=self.platform.gpu_slices,
        )


def default_catalog_text() -> str:
    """The models.toml shipped inside the package."""
    return resources.files("sparkctl").joinpath("models.toml").read_text(encoding="utf-8")


def find_catalog(explicit: Path | None = None, *, cwd: Path | None = None) -> Path | None:
    """Where models.toml is: `explicit`, else $SPARKCTL_MODELS, else ./models.toml; None means the shipped copy."""
    if explicit is not None:
        return explicit
    from_env = os.environ.get(MODELS_ENV)
    if from_env:
        return Path(from_env)
    local = (cwd or Path.cwd()) / "models.toml"
    return local if local.is_file() else None


def load_catalog(explicit: Path | None = None, *, cwd: Path | None = None) -> Catalog:
    """Find, read and validate models.toml (see `find_catalog` for the search order)."""
    path = find_catalog(explicit, cwd=cwd)
    if path is None:
        return parse_catalog(default_catalog_text(), source="models.toml (built in)")
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CatalogError(
            f"{path}: no such file",
            hint=f"Pass an existing models.toml with --models, or unset {MODELS_ENV}.",
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError(f"{path}: cannot be read: {exc}", hint="Check the file.") from None
    return parse_catalog(text, source=str(path))


def parse_catalog(text: str, *, source: str = "models.toml") -> Catalog:
    """Validate the text of a models.toml; CatalogError names the file, the key and the problem."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"{source}: not valid TOML: {exc}", hint=_HINT) from None
    unknown = sorted(set(data) - {"platform", "model"})
    if unknown:
        raise CatalogError(f"{source}: {unknown[0]}: unknown table (expected [platform] and [[model]])", hint=_HINT)
    platform = _validate(Platform, data.get("platform", {}), source, "platform")
    entries = data.get("model", [])
    if not isinstance(entries, list) or not entries:
        raise CatalogError(f"{source}: model: at least one [[model]] table is needed", hint=_HINT)
    models = tuple(_validate(Model, entry, source, _model_path(index, entry)) for index, entry in enumerate(entries))
    _check_unique(models, source)
    return Catalog(path=source, platform=platform, models=models)


_M = TypeVar("_M", bound=BaseModel)

_HINT = "Fix models.toml; the comment at its top describes every field."


def _model_path(index: int, entry: Any) -> str:
    name = entry.get("name") if isinstance(entry, dict) else None
    return f"model[{index}]" + (f" ({name})" if isinstance(name, str) else "")


def _validate(kind: type[_M], data: Any, source: str, path: str) -> _M:
    try:
        return kind.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join([path, *(str(part) for part in error["loc"])])
        more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise CatalogError(f"{source}: {where}: {_describe(error)}{more}", hint=_HINT) from None


def _describe(error: Any) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field is missing"
    if kind == "literal_error":
        return f"{error['input']!r} is not one of {error['ctx']['expected']}"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def _check_unique(models: tuple[Model, ...], source: str) -> None:
    owners: dict[str, str] = {}
    ports: dict[int, str] = {}
    for index, model in enumerate(models):
        path = f"model[{index}] ({model.name})"
        for name in model.routing_names():
            if name in ROLES:
                raise CatalogError(f"{source}: {path}: {name!r} is a role and cannot be a model name", hint=_HINT)
            if name in owners:
                raise CatalogError(
                    f"{source}: {path}: duplicate name {name!r}, already used by {owners[name]}", hint=_HINT
                )
            owners[name] = path
        if model.node_port is not None:
            if model.node_port in ports:
                raise CatalogError(
                    f"{source}: {path}.node_port: {model.node_port} is already used by {ports[model.node_port]}",
                    hint=_HINT,
                )
            ports[model.node_port] = path
