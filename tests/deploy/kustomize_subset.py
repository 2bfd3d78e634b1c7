"""The part of kustomize that deploy/k8s uses, so the checks build overlays without a binary.

Supported, and nothing else (anything else raises `Unsupported`, so a new feature in an overlay
fails loudly instead of being silently misbuilt):
- `resources`: YAML files and directories holding a kustomization.yaml; `components`;
- `namespace` (set on namespaced kinds; a Namespace resource is renamed to it);
- `configMapGenerator` with `literals`, `behavior` create/merge/replace, the content-hash
  suffix, and the rewrite of references to the generated names in pod specs;
- `images` (`newName`, `newTag`);
- `patches` with `path:` to strategic merge patches, targeted by kind and name. Lists merge by
  key where Kubernetes declares a merge key (the table `MERGE_KEYS`); other lists are replaced.

tests/deploy/test_k8s.py compares this builder with `kubectl kustomize` wherever kubectl is
installed, so the two cannot drift apart unnoticed.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

Resource = dict[str, Any]

CLUSTER_SCOPED = frozenset(
    {
        "Namespace",
        "ClusterRole",
        "ClusterRoleBinding",
        "CustomResourceDefinition",
        "IngressClass",
        "PersistentVolume",
        "PriorityClass",
        "StorageClass",
        "ValidatingWebhookConfiguration",
        "MutatingWebhookConfiguration",
    }
)

# Strategic-merge list keys (the `patchMergeKey`s of the Kubernetes API types we patch).
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "envFrom": None,  # atomic
    "volumes": "name",
    "volumeMounts": "mountPath",
    "imagePullSecrets": "name",
    "topologySpreadConstraints": "topologyKey",
}
PORTS_MERGE_KEYS = ("containerPort", "port")

GO_JSON_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}

KUSTOMIZATION_KEYS = frozenset(
    {"apiVersion", "kind", "namespace", "resources", "components", "configMapGenerator"}
    | {"images", "patches"}
)


class Unsupported(Exception):
    """The kustomization uses something this subset does not build."""


def load_documents(path: Path) -> list[Resource]:
    """Every non-empty YAML document in `path`."""
    with path.open() as stream:
        return [doc for doc in yaml.safe_load_all(stream) if doc is not None]


def build(directory: Path) -> list[Resource]:
    """`kustomize build directory`: the final resources, generated names hashed."""
    resources = _build_level(directory.resolve(), component=False, accumulated=[])
    _apply_name_hashes(resources)
    for resource in resources:
        resource.pop("__generated__", None)
    return resources


def _kustomization(directory: Path) -> dict[str, Any]:
    for name in ("kustomization.yaml", "kustomization.yml", "Kustomization"):
        path = directory / name
        if path.is_file():
            config = yaml.safe_load(path.read_text()) or {}
            unknown = set(config) - KUSTOMIZATION_KEYS
            if unknown:
                raise Unsupported(f"{path}: {sorted(unknown)}")
            return dict(config)
    raise Unsupported(f"{directory} has no kustomization.yaml")


def _build_level(
    directory: Path, *, component: bool, accumulated: list[Resource]
) -> list[Resource]:
    config = _kustomization(directory)
    kind = config.get("kind", "Kustomization")
    if component != (kind == "Component"):
        raise Unsupported(
            f"{directory}: a {kind} where a {'Component' if component else 'Kustomization'} belongs"
        )
    resources = accumulated
    for entry in config.get("resources", []):
        path = (directory / entry).resolve()
        if path.is_dir():
            resources.extend(_build_level(path, component=False, accumulated=[]))
        else:
            resources.extend(load_documents(path))
    for entry in config.get("components", []):
        path = (directory / entry).resolve()
        resources = _build_level(path, component=True, accumulated=resources)
    for generator in config.get("configMapGenerator", []):
        _generate_config_map(resources, generator, config.get("namespace"))
    for patch in config.get("patches", []):
        if set(patch) != {"path"}:
            raise Unsupported(f"{directory}: patch {patch} (only `path:` patches)")
        for document in load_documents(directory / patch["path"]):
            _patch(resources, document)
    if "namespace" in config:
        for resource in resources:
            if resource["kind"] == "Namespace":  # kustomize renames the Namespace itself too
                resource["metadata"]["name"] = config["namespace"]
            elif resource["kind"] not in CLUSTER_SCOPED:
                resource.setdefault("metadata", {})["namespace"] = config["namespace"]
    for image in config.get("images", []):
        _set_image(resources, image)
    return resources


# -- configMapGenerator ----------------------------------------------------------------------


def _generate_config_map(
    resources: list[Resource], generator: dict[str, Any], namespace: str | None
) -> None:
    unknown = set(generator) - {"name", "literals", "behavior"}
    if unknown:
        raise Unsupported(f"configMapGenerator {generator.get('name')}: {sorted(unknown)}")
    data: dict[str, str] = {}
    for literal in generator.get("literals", []):
        key, sep, value = literal.partition("=")
        if not sep or value[:1] in ("'", '"'):
            raise Unsupported(f"literal {literal!r}")
        data[key] = value
    behavior = generator.get("behavior", "create")
    existing = [
        r
        for r in resources
        if r["kind"] == "ConfigMap" and r["metadata"]["name"] == generator["name"]
    ]
    if behavior == "create":
        if existing:
            raise ValueError(f"ConfigMap {generator['name']} generated twice")
        metadata: dict[str, Any] = {"name": generator["name"]}
        if namespace:
            metadata["namespace"] = namespace
        resources.append(
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": metadata,
                "data": data,
                "__generated__": True,
            }
        )
    elif behavior in ("merge", "replace"):
        if len(existing) != 1:
            raise ValueError(f"{behavior} of ConfigMap {generator['name']}: not generated below")
        target = existing[0]
        target["data"] = {**target.get("data", {}), **data} if behavior == "merge" else data
    else:
        raise Unsupported(f"behavior {behavior}")


def config_map_hash(data: dict[str, str]) -> str:
    """kustomize's name suffix of a generated ConfigMap (api/hasher: sha256, 10 encoded chars)."""
    # Go's json.Marshal: sorted keys, no spaces, raw UTF-8, HTML characters escaped.
    encoded = json.dumps(
        {"data": data, "kind": "ConfigMap", "name": ""},
        separators=(",", ":"),
        sort_keys=True,
        ensure_ascii=False,
    )
    for char, escape in GO_JSON_ESCAPES.items():
        encoded = encoded.replace(char, escape)
    digest = hashlib.sha256(encoded.encode()).hexdigest()[:10]
    return digest.translate(str.maketrans("013ae", "ghkmt"))


def _apply_name_hashes(resources: list[Resource]) -> None:
    renamed: dict[tuple[str | None, str], str] = {}
    for resource in resources:
        if resource.get("__generated__"):
            metadata = resource["metadata"]
            new_name = f"{metadata['name']}-{config_map_hash(resource.get('data', {}))}"
            renamed[(metadata.get("namespace"), metadata["name"])] = new_name
            metadata["name"] = new_name
    for resource in resources:
        namespace = resource.get("metadata", {}).get("namespace")
        for pod in pod_specs(resource):
            for reference in _config_map_references(pod):
                key = (namespace, reference["name"])
                if key in renamed:
                    reference["name"] = renamed[key]


def _config_map_references(pod: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for container in containers(pod):
        for source in container.get("envFrom", []):
            if "configMapRef" in source:
                yield source["configMapRef"]
        for variable in container.get("env", []):
            ref = variable.get("valueFrom", {}).get("configMapKeyRef")
            if ref:
                yield ref
    for volume in pod.get("volumes", []):
        if "configMap" in volume:
            yield volume["configMap"]
        for source in volume.get("projected", {}).get("sources", []):
            if "configMap" in source:
                yield source["configMap"]


# -- pods -------------------------------------------------------------------------------------


def pod_specs(resource: Resource) -> Iterator[dict[str, Any]]:
    """The pod specs inside a workload resource."""
    kind = resource.get("kind")
    spec = resource.get("spec", {})
    if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"):
        yield spec["template"]["spec"]
    elif kind == "CronJob":
        yield spec["jobTemplate"]["spec"]["template"]["spec"]
    elif kind == "Pod":
        yield spec


def containers(pod: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Init containers, then containers."""
    yield from pod.get("initContainers", [])
    yield from pod.get("containers", [])


def _set_image(resources: list[Resource], image: dict[str, Any]) -> None:
    unknown = set(image) - {"name", "newName", "newTag"}
    if unknown:
        raise Unsupported(f"images {image['name']}: {sorted(unknown)}")
    for resource in resources:
        for pod in pod_specs(resource):
            for container in containers(pod):
                name, _, tag = container["image"].rpartition(":")
                if "/" in tag or not name:  # no tag, the colon was a registry port
                    name, tag = container["image"], ""
                if name != image["name"]:
                    continue
                name = image.get("newName", name)
                tag = str(image.get("newTag", tag))
                container["image"] = f"{name}:{tag}" if tag else name


# -- strategic merge patches ---------------------------------------------------------------


def _group(api_version: str) -> str:
    return api_version.rpartition("/")[0]


def _patch(resources: list[Resource], patch: Resource) -> None:
    matches = [
        r
        for r in resources
        if r["kind"] == patch["kind"]
        and _group(r["apiVersion"]) == _group(patch["apiVersion"])
        and r["metadata"]["name"] == patch["metadata"]["name"]
        and patch["metadata"].get("namespace", r["metadata"].get("namespace"))
        == r["metadata"].get("namespace")
    ]
    if len(matches) != 1:
        raise ValueError(
            f"patch {patch['kind']}/{patch['metadata']['name']} matches {len(matches)} resources"
        )
    body = {k: v for k, v in patch.items() if k not in ("apiVersion", "kind")}
    body["metadata"] = {k: v for k, v in patch["metadata"].items() if k != "name"}
    if not body["metadata"]:
        del body["metadata"]
    merged = strategic_merge(matches[0], body)
    matches[0].clear()
    matches[0].update(merged)


def strategic_merge(target: Any, patch: Any, field: str | None = None) -> Any:
    """`patch` merged into a copy of `target`, Kubernetes strategic-merge style."""
    if isinstance(patch, dict) and isinstance(target, dict):
        if any(key.startswith("$") for key in patch):
            raise Unsupported(f"patch directive in {sorted(patch)}")
        result = copy.deepcopy(target)
        for key, value in patch.items():
            if value is None:
                result.pop(key, None)
            elif key in result:
                result[key] = strategic_merge(result[key], value, key)
            else:
                result[key] = copy.deepcopy(value)
        return result
    if isinstance(patch, list) and isinstance(target, list):
        key = _merge_key(field, target + patch)
        if key is None:
            return copy.deepcopy(patch)
        # kustomize's order: the patch's items first (merged where they exist), then the
        # target's items the patch does not name.
        by_key = {item.get(key): item for item in target}
        merged = [
            strategic_merge(by_key[item.get(key)], item)
            if item.get(key) in by_key
            else copy.deepcopy(item)
            for item in patch
        ]
        named = {item.get(key) for item in patch}
        return merged + [copy.deepcopy(item) for item in target if item.get(key) not in named]
    return copy.deepcopy(patch)


def _merge_key(field: str | None, items: list[Any]) -> str | None:
    if field == "ports":
        for key in PORTS_MERGE_KEYS:
            if items and all(isinstance(i, dict) and key in i for i in items):
                return key
        return None
    return MERGE_KEYS.get(field or "")
