#!/usr/bin/env python3
"""Checks Kubernetes Job manifests offline (kubectl --dry-run needs a cluster): every document
must be a batch/v1 Job whose every field exists in the Job schema with the right type
(job-schema.json beside this script, made by make_job_schema.py from the official client's
models), with the fields the schema requires; and the rules of the API server for Jobs that the
schema does not carry (restartPolicy Never or OnFailure, completionMode NonIndexed or Indexed,
Indexed Jobs with completions, parallelism ≤ completions, volume mounts naming declared volumes,
JOB_COMPLETION_INDEX from the completion-index annotation).

Prints {"commands": [{"job", "argv", "completions", "indexed"}, ...]} as JSON, argv being the
modelforget command of each container (a `sh -c` script is split with shlex at `&&`, keeping the
part that runs modelforget), so that a test can parse them with modelforget's own parser; exits 1
with one line per defect otherwise.

Usage: check_job_manifest.py FILE.yaml...   (python3 with PyYAML)
"""
import json
import os
import shlex
import sys

import yaml

SCHEMA = json.load(open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "job-schema.json")))["types"]
QUANTITY_MAPS = {("V1ResourceRequirements", "limits"), ("V1ResourceRequirements", "requests")}
errors = []


def check(value, type_name, path, owner=None):
    """Checks `value` against the schema type `type_name`; defects go to `errors`."""
    if type_name.startswith("List["):
        if not isinstance(value, list):
            return errors.append(f"{path}: expected a list, found {type(value).__name__}")
        for i, item in enumerate(value):
            check(item, type_name[5:-1], f"{path}[{i}]")
        return
    if type_name.startswith("Dict[str, "):
        if not isinstance(value, dict):
            return errors.append(f"{path}: expected a mapping, found {type(value).__name__}")
        for key, item in value.items():
            if owner in QUANTITY_MAPS and isinstance(item, (int, float)) and not isinstance(item, bool):
                continue  # a resource quantity may be a number or a string
            check(item, type_name[10:-1], f"{path}.{key}")
        return
    primitive = {"str": str, "datetime": str, "int": int, "float": (int, float), "bool": bool}.get(type_name)
    if primitive is not None:
        if not isinstance(value, primitive) or (type_name in ("int", "float") and isinstance(value, bool)):
            errors.append(f"{path}: expected {type_name}, found {type(value).__name__} {value!r}")
        return
    if type_name == "object":
        return
    spec = SCHEMA[type_name]
    if not isinstance(value, dict):
        return errors.append(f"{path}: expected a {type_name} mapping, found {type(value).__name__}")
    for key, item in value.items():
        if key not in spec["fields"]:
            errors.append(f"{path}.{key}: no such field in {type_name}")
        else:
            check(item, spec["fields"][key], f"{path}.{key}", (type_name, key))
    for key in spec["required"]:
        if key not in value:
            errors.append(f"{path}: {type_name} needs {key}")


def job_rules(job, path):
    """The API server's rules for Jobs that the schema does not express."""
    spec = job.get("spec", {})
    pod = spec.get("template", {}).get("spec", {})
    if pod.get("restartPolicy") not in ("Never", "OnFailure"):
        errors.append(f"{path}.spec.template.spec.restartPolicy: a Job's pods need Never or OnFailure")
    mode = spec.get("completionMode", "NonIndexed")
    if mode not in ("NonIndexed", "Indexed"):
        errors.append(f"{path}.spec.completionMode: NonIndexed or Indexed, not {mode!r}")
    if mode == "Indexed" and not isinstance(spec.get("completions"), int):
        errors.append(f"{path}.spec.completions: an Indexed Job needs completions")
    if isinstance(spec.get("parallelism"), int) and isinstance(spec.get("completions"), int) and spec["parallelism"] > spec["completions"]:
        errors.append(f"{path}.spec.parallelism: more than completions")
    volumes = {v.get("name") for v in pod.get("volumes", [])}
    for c, container in enumerate(pod.get("containers", [])):
        for mount in container.get("volumeMounts", []):
            if mount.get("name") not in volumes:
                errors.append(f"{path}.spec.template.spec.containers[{c}].volumeMounts: no volume named {mount.get('name')!r}")
        for env in container.get("env", []):
            if env.get("name") == "JOB_COMPLETION_INDEX":
                field = env.get("valueFrom", {}).get("fieldRef", {}).get("fieldPath")
                if field != "metadata.annotations['batch.kubernetes.io/job-completion-index']":
                    errors.append(f"{path}: JOB_COMPLETION_INDEX must come from the batch.kubernetes.io/job-completion-index annotation")
                if mode != "Indexed":
                    errors.append(f"{path}: JOB_COMPLETION_INDEX needs completionMode: Indexed")


def modelforget_command(container):
    """The argv of the modelforget command a container runs, or None."""
    argv = list(container.get("command", [])) + list(container.get("args", []))
    if argv[:2] == ["sh", "-c"] and len(argv) == 3:
        for part in argv[2].split("&&"):
            words = shlex.split(part)
            if words and words[0] == "exec":
                words = words[1:]
            if words and words[0] == "modelforget":
                return words
        return None
    return argv if argv and argv[0] == "modelforget" else None


commands = []
for name in sys.argv[1:]:
    with open(name) as f:
        documents = [d for d in yaml.safe_load_all(f) if d is not None]
    if not documents:
        errors.append(f"{name}: no documents")
    for i, document in enumerate(documents):
        path = f"{name}#{i}"
        if not isinstance(document, dict) or document.get("apiVersion") != "batch/v1" or document.get("kind") != "Job":
            errors.append(f"{path}: not a batch/v1 Job")
            continue
        check(document, "V1Job", path)
        job_rules(document, path)
        for container in document.get("spec", {}).get("template", {}).get("spec", {}).get("containers", []):
            command = modelforget_command(container)
            if command is None:
                errors.append(f"{path}: container {container.get('name')!r} runs no modelforget command")
            else:
                commands.append({"job": document.get("metadata", {}).get("name"), "argv": command,
                                 "completions": document["spec"].get("completions"),
                                 "indexed": document["spec"].get("completionMode") == "Indexed"})
if errors:
    print("\n".join(errors), file=sys.stderr)
    sys.exit(1)
print(json.dumps({"commands": commands}))
