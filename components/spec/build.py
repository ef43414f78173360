"""Entry points: build the spec from the files or from the Pulumi runtime, and read its secrets.

`load_from_pulumi()` is the only place in the program that reads `pulumi.Config`. `build()` is the pure
equivalent (no Pulumi runtime) for unit tests and the policy pack.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import Any

from components import rules
from components.rules import Violation
from components.spec.document import NAMESPACE, TARGET_MODELS
from components.spec.load import (
    CONFIG_KEYS,
    decode_config,
    drop_nulls,
    is_ours,
    load_shared,
    load_stack_file,
    merge,
    normalise,
    stringify_keys,
)
from components.spec.model import StackSpec
from components.spec.problems import (
    Problem,
    Sources,
    SpecError,
    drop_path,
    touches_patched,
    validate_document,
)
from components.spec.resolve import resolve_spec, with_events


# --------------------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------------------
def build(
    stack: str,
    raw: Mapping[str, Any],
    project_dir: Path | None = None,
    *,
    shared: Mapping[str, Any] | None = None,
    secret_keys: Collection[str] | None = None,
) -> StackSpec:
    """Merge the shared description with one stack's raw config, validate it all, resolve it.

    `raw` holds the stack's config values, keys with or without the `mrgov:` prefix (other namespaces are
    ignored), values already parsed (not JSON text). The shared description is `shared` if given, else
    `project_dir/registry.yaml` if it exists. `secret_keys`, when known, lets the spec check that a
    password key it names really is a secret. Raises SpecError listing every mandatory problem; advisory
    ones come back in `StackSpec.warnings`. Needs no Pulumi runtime.
    """
    stack_doc = stringify_keys(
        normalise({k.split(":", 1)[1] if ":" in k else k: v for k, v in raw.items() if is_ours(k)})
    )
    shared_doc = stringify_keys(
        normalise(shared if shared is not None else load_shared(project_dir) if project_dir else {})
    )
    sources = Sources(stack, stack_doc, shared_doc)
    doc: dict[str, Any] = merge(shared_doc, stack_doc, keep_nulls=True)
    # Defaults every model inherits; a model's own keys win (mappings merge, lists replace).
    defaults = drop_nulls(doc.pop("modelDefaults", None) or {})
    if isinstance(doc.get("models"), Mapping):
        doc["models"] = {
            name: merge(defaults, m) if isinstance(m, Mapping) else m for name, m in doc["models"].items()
        }
    doc = drop_nulls(doc)
    doc.setdefault("environment", stack)

    raw_target = doc.get("target")
    model = TARGET_MODELS.get(str(raw_target.get("kind"))) if isinstance(raw_target, Mapping) else None
    # A target that calls no webhooks refuses them (the webhook-target rule), so their secrets go unchecked.
    webhooks = model is None or model.supports_webhooks
    violations: list[Violation] = list(rules.check_raw(doc, secret_keys, webhooks=webhooks))
    for v in violations:
        drop_path(doc, v.path)  # reported already; keep pydantic from repeating it as "unknown key"
    cfg, structural = validate_document(doc)
    problems: list[Problem] = []
    for path, msg in structural:
        file, key = sources.locate(path)
        problems.append(Problem("structure", "mandatory", file, key, msg))
    if cfg is not None:
        # Rules see a patched document when the structure was bad; what they say about patched parts
        # would only repeat the structural error, so it is left out.
        violations += [
            v for v in rules.evaluate(cfg) if not touches_patched(v.path, [p for p, _ in structural])
        ]
    for v in violations:
        file, key = sources.locate(v.path)
        if v.written_in != "anywhere":
            in_stack_model = file == sources.stack_file and key.startswith(f"{NAMESPACE}:models.")
            if in_stack_model != (v.written_in == "stack-model"):
                continue  # the rule counts the value only where it is written elsewhere
        problems.append(Problem(v.rule_id, v.severity, file, key, v.message))
    problems = list(dict.fromkeys(problems))  # inherited defaults report once
    errors = tuple(p for p in problems if p.severity == "mandatory")
    if errors:
        raise SpecError(stack, errors)
    assert cfg is not None
    return with_events(
        cfg, resolve_spec(stack, cfg, tuple(str(p) for p in problems if p.severity == "advisory"))
    )


def build_from_files(project_dir: Path, stack: str) -> StackSpec:
    """`build()` from the files on disk: Pulumi.<stack>.yaml and registry.yaml (for tests and tooling)."""
    return build(stack, load_stack_file(project_dir, stack), project_dir)


def _config_keys_in_runtime() -> Iterator[str]:
    # The SDK has no public "list all keys"; its config map lets us report misspelt mrgov:* keys too.
    try:
        from pulumi.runtime import config as runtime_config

        yield from runtime_config.CONFIG.get()
    except (ImportError, AttributeError, LookupError):
        return


def load_from_pulumi() -> StackSpec:
    """Read this stack's config through pulumi.Config, merge registry.yaml, validate, log warnings."""
    import pulumi
    from pulumi.runtime import config as runtime_config

    cfg = pulumi.Config(NAMESPACE)
    raw: dict[str, Any] = {}
    keys = set(CONFIG_KEYS) | {
        k.split(":", 1)[1] for k in _config_keys_in_runtime() if k.startswith(f"{NAMESPACE}:")
    }
    secret_keys = set(runtime_config.get_config_secret_keys_env()) | {
        k for k in _config_keys_in_runtime() if runtime_config.is_config_secret(k)
    }
    for key in sorted(keys):
        if f"{NAMESPACE}:{key}" in secret_keys:
            continue  # secret values are never part of the spec; only their key names are
        value = cfg.get(key)
        if value is not None:
            raw[key] = value
    spec = build(pulumi.get_stack(), decode_config(raw), _project_dir(), secret_keys=secret_keys)
    for warning in spec.warnings:
        pulumi.log.warn(warning)
    return spec


def mlflow_password(spec: StackSpec) -> Any:
    """The MLflow password from the secret config key the stack's target names, as a Pulumi secret.

    None when the target names none: the provider then reads MLFLOW_TRACKING_PASSWORD from the
    environment at call time, and nothing about the password reaches the state.
    """
    import pulumi

    server = spec.target.mlflow_server
    if server is None or not server.password_secret:
        return None
    namespace, _, key = server.password_secret.rpartition(":")
    return pulumi.Config(namespace or NAMESPACE).require_secret(key)


def webhook_secrets(spec: StackSpec) -> dict[str, Any]:
    """Each webhook's signing secret, from the secret config key its `secret` names, as a Pulumi secret.

    The same way as `mlflow_password`: the spec only names the key (validation checked that Pulumi
    holds it as a secret), the value goes to the provider as a secret input and is encrypted in the
    state.
    """
    import pulumi

    out: dict[str, Any] = {}
    for hook in spec.webhooks:
        namespace, _, key = hook.secret_key.rpartition(":")
        out[hook.name] = pulumi.Config(namespace or NAMESPACE).require_secret(key)
    return out


def _project_dir() -> Path:
    import pulumi

    try:
        root = Path(pulumi.get_root_directory())
    except Exception:  # noqa: BLE001 - older engines have no root directory
        return Path.cwd()
    # Under mocks the "root directory" is a placeholder string, not a folder.
    return root if (root / "Pulumi.yaml").exists() else Path.cwd()
