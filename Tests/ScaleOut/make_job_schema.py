#!/usr/bin/env python3
"""Writes job-schema.json: the fields of a Kubernetes batch/v1 Job and of every object type a Job
holds (JobSpec, PodTemplateSpec, PodSpec, Container, EnvVar, Volume, …), from the model classes
of the official Kubernetes Python client, which are generated from the API server's OpenAPI
document. check_job_manifest.py validates docs/scale-out/*.yaml against it offline (kubectl
--dry-run needs a cluster).

For each type: its fields (JSON name → type: "str", "int", "bool", "float", "object" (free-form,
e.g. resource quantities), "List[T]", "Dict[str, T]" or another type's name) and the fields the
client requires (its models are pydantic classes: `model_fields[f].is_required()`). Dev-time only: `pip install kubernetes` in a scratch venv, then
  python make_job_schema.py > job-schema.json
"""
import json
import re
import sys

import kubernetes
from kubernetes import client

PRIMITIVES = {"str": "str", "int": "int", "bool": "bool", "float": "float", "object": "object", "datetime": "str"}


def walk(name, schema):
    if name in schema or name in PRIMITIVES:
        return
    cls = getattr(client, name)
    fields, required = {}, []
    schema[name] = {"fields": fields, "required": required}
    required_names = {field.serialization_alias or name for name, field in cls.model_fields.items() if field.is_required()}
    for attribute, type_name in cls.openapi_types.items():
        json_name = cls.attribute_map[attribute]
        fields[json_name] = type_name
        if json_name in required_names:
            required.append(json_name)
        for inner in re.findall(r"[A-Za-z_]\w*", type_name):
            if inner not in ("List", "Dict") and inner not in PRIMITIVES:
                walk(inner, schema)


schema = {}
walk("V1Job", schema)
json.dump({"generator": f"kubernetes python client {kubernetes.__version__}", "root": "V1Job", "types": schema},
          sys.stdout, indent=1, sort_keys=True)
print()
