"""What an audit reads from a live registry: plain values, the same shape for both targets.

A reader (`components/audit/mlflow_reader.py`, `components/audit/uc_reader.py`) fills these from the
registry; the checklist (`components/audit/checklist.py`) judges them without any I/O, so it is
tested on values. Anything a reader could not read is kept as the reason (`error`), and the item
that needed it fails with that reason as its evidence instead of stopping the audit.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Column:
    """One column of a signature: its name and type as MLflow logged them."""

    name: str
    type: str


@dataclass(frozen=True)
class LoggedModel:
    """What the version's MLmodel file says: its signature and whether an input example was saved."""

    inputs: tuple[Column, ...] | None  # None: the signature has no inputs (or there is no signature)
    outputs: tuple[Column, ...] | None
    input_example: str | None  # the saved example's artifact path, None when none was saved
    example_type: str = ""  # "dataframe", "ndarray", ... as MLflow recorded it


@dataclass(frozen=True)
class Dataset:
    """A dataset a run logged as an input (`mlflow.log_input`): MLflow's run inputs."""

    name: str
    digest: str
    source_type: str
    source: str
    context: str = ""  # the `mlflow.data.context` tag: training, validation, ...


@dataclass(frozen=True)
class RunInfo:
    """The run that logged a version, for the lineage section."""

    run_id: str
    datasets: tuple[Dataset, ...] = ()
    error: str = ""  # why the run could not be read ("" when it was)


@dataclass(frozen=True)
class VersionSnapshot:
    """One model version as the registry holds it."""

    version: str
    status: str
    description: str
    created_ms: int  # creation time, milliseconds since the epoch (0 when unknown)
    run_id: str
    source: str
    tags: dict[str, str] = field(default_factory=dict)
    logged: LoggedModel | None = None
    logged_error: str = ""  # why the MLmodel file could not be read
    run: RunInfo | None = None  # read for the versions an alias points at


@dataclass(frozen=True)
class Holding:
    """What one principal holds on a securable, and how (a role, a direct grant, inherited)."""

    principal: str
    privileges: tuple[str, ...]  # Unity Catalog privileges, or the MLflow permission level
    via: str = ""


@dataclass(frozen=True)
class Access:
    """Who holds what on one securable, as the registry answers (effective, inherited included)."""

    securable: str  # "schema dev_catalog.gold_features", "model dev_catalog.gold_features.x"
    holdings: dict[str, Holding] = field(default_factory=dict)  # by principal
    error: str = ""  # why it could not be read


@dataclass(frozen=True)
class ModelSnapshot:
    """A registered model, its versions (oldest first) and the grants the checklist asks about."""

    name: str  # catalog.schema.model
    exists: bool
    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    versions: tuple[VersionSnapshot, ...] = ()
    create_access: Access | None = None  # where CREATE MODEL is granted: the schema (UC), the model (MLflow)
    use_access: Access | None = None  # where USE MODEL (EXECUTE) is granted: the model
    error: str = ""  # why the model could not be read at all

    @property
    def latest_version(self) -> str:
        return max((v.version for v in self.versions), key=int, default="")


@dataclass(frozen=True)
class Wanted:
    """The grants that give one of the checklist's privileges on a target, and how the evidence says so."""

    privileges: frozenset[str]  # holding any of these passes
    named: str  # how the evidence names them: "CREATE_MODEL", "EDIT or MANAGE"
    note: str = ""  # what the evidence adds, where the target spells the privilege its own way


@dataclass(frozen=True)
class TargetTerms:
    """How the checklist judges a target's registry where targets differ (each target's audit.py)."""

    create_model: Wanted  # CREATE MODEL, on `ModelSnapshot.create_access`
    use_model: Wanted  # USE MODEL, on `ModelSnapshot.use_access`
    # Why a READY version has a signature with inputs and outputs though its MLmodel file was not read
    # (the registry refuses a version without one), or None: the file must be read.
    ready_has_signature: str | None = None


@dataclass(frozen=True)
class RegistrySnapshot:
    """Every declared model of one stack, read from its registry."""

    target: str  # the target's kind
    registry: str  # where it was read: the tracking URI, or databricks-uc on a host
    models: tuple[ModelSnapshot, ...]
    terms: TargetTerms
