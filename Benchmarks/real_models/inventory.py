"""Renders the manifests that make_real_models.py writes into OPERATORS.md and the generated part of
README.md (state-dict key layouts and config.json contents). Only the text between the
`<!-- BEGIN GENERATED ... -->` and `<!-- END GENERATED ... -->` markers is replaced; the rest of
each file is hand-written and kept."""
import collections, json, os, re

BEGIN = "<!-- BEGIN GENERATED {} (make_real_models.py --tier inventory) -->"
END = "<!-- END GENERATED {} -->"


def replace_between(path, tag, text):
    begin, end = BEGIN.format(tag), END.format(tag)
    body = open(path).read() if os.path.exists(path) else f"{begin}\n{end}\n"
    if begin not in body or end not in body:
        body = body.rstrip("\n") + f"\n\n{begin}\n{end}\n"
    head, rest = body.split(begin, 1)
    _, tail = rest.split(end, 1)
    with open(path + ".tmp", "w") as f:
        f.write(head + begin + "\n" + text.rstrip("\n") + "\n" + end + tail)
    os.replace(path + ".tmp", path)


def short_op(op):
    domain, name = op.split("::")
    return name if domain == "ai.onnx" else f"{domain}.{name}"


def file_rows(manifests):
    """(tier, entry, file name, info) for every exported ONNX file."""
    for tier, e in manifests:
        for f, info in e["onnx"].items():
            yield tier, e, f, info


def exporter_of(f):
    return "legacy" if "legacy" in f else "dynamo"


def findings(e, f, info):
    """Automatic remarks on one ONNX file."""
    out = []
    keys = [k["key"] for k in e["keys"]]
    has_bn = any(k.endswith("running_mean") for k in keys)
    ops = {short_op(o) for o in info["ops"]}
    if has_bn and "BatchNormalization" not in ops:
        out.append("BatchNorm folded into Conv")
    differing = info.get("named_initializers_differing_from_checkpoint", [])
    if differing:
        out.append(f"{len(differing)} initializers keep a state-dict name but hold folded values (e.g. `{differing[0]}`)")
    rel = collections.Counter()
    for name, r in info["unnamed_initializers"].items():
        what = r["is"]
        if what.endswith("constant"):
            rel[what + "s"] += 1
        elif what.startswith("computed"):
            rel["computed (folded)"] += 1
        elif what.endswith(".T"):
            rel["transposed copies (`key.T`)"] += 1
        elif "[" in what:
            rel["row slices (`key[a:b]`)"] += 1
        elif "reshaped" in what:
            rel["reshaped copies"] += 1
        else:
            rel["renamed copies"] += 1
    if rel:
        out.append("unnamed initializers: " + ", ".join(f"{n} {k}" for k, n in sorted(rel.items())))
    if info["state_dict_keys_absent"]:
        out.append(f"{len(info['state_dict_keys_absent'])} state-dict keys have no same-named initializer")
    if info["external_data_files"]:
        out.append(f"external data `{'`, `'.join(info['external_data_files'])}` ({info['initializers_external']} tensors, "
                   f"{info['external_bytes']} bytes)")
    shapes = info["ops"].get("ai.onnx::Shape", 0)
    if shapes:
        out.append(f"{shapes} Shape nodes (shape arithmetic)")
    if info["constant_nodes"]:
        out.append(f"{info['constant_nodes']} Constant nodes")
    return out


def write_operators_md(manifests, supported, path):
    rows = list(file_rows(manifests))
    lines = []
    versions = None
    for _, e in manifests:
        versions = versions or e.get("versions")
    lines.append(f"{len(rows)} ONNX files from {len({(t, e['name']) for t, e, _, _ in rows})} model folders "
                 f"(tiers: {', '.join(sorted({t for t, _, _, _ in rows}))}).")
    if supported is None:
        lines.append("\n(The Swift importer's operator list was not found; the `now` column is empty.)")
    lines.append("")
    # Union table.
    per_op = collections.defaultdict(lambda: {"dynamo": set(), "legacy": set(), "nodes": 0, "opsets": set()})
    for tier, e, f, info in rows:
        if "error" in info:
            continue
        for op, n in info["ops"].items():
            d = per_op[short_op(op)]
            d[exporter_of(f)].add(e["name"] + ("" if tier.startswith("tiny") else f" ({tier})"))
            d["nodes"] += n
            dom = op.split("::")[0]
            d["opsets"].add(f"{dom} {info['opsets'].get(dom, '?')}")
    lines.append("### Every operator, where it occurs")
    lines.append("")
    lines.append("`now`: the Swift importer maps it today (`GraphOperation.onnxOperators`). Counts are nodes over all files.")
    lines.append("")
    lines.append("| operator | now | nodes | dynamo files | legacy files | opsets | families (dynamo / legacy) |")
    lines.append("|---|---|---:|---:|---:|---|---|")
    fam = {e["name"] + ("" if t.startswith("tiny") else f" ({t})"): e["family"] for t, e in manifests}
    for op in sorted(per_op, key=lambda o: (-(len(per_op[o]["dynamo"]) + len(per_op[o]["legacy"])), o)):
        d = per_op[op]
        now = "" if supported is None else ("yes" if op in supported else "**no**")
        fd = sorted({fam[n] for n in d["dynamo"]})
        fl = sorted({fam[n] for n in d["legacy"]})
        lines.append(f"| {op} | {now} | {d['nodes']} | {len(d['dynamo'])} | {len(d['legacy'])} | "
                     f"{', '.join(sorted(d['opsets']))} | {', '.join(fd) or '-'} / {', '.join(fl) or '-'} |")
    if supported is not None:
        missing = sorted(op for op in per_op if op not in supported)
        lines.append("")
        lines.append(f"Not mapped today ({len(missing)}): " + ", ".join(f"`{m}`" for m in missing) + ".")
    # Per file.
    lines.append("")
    lines.append("### Per file")
    lines.append("")
    for tier in sorted({t for t, _, _, _ in rows}, key=lambda t: ["tiny", "tiny (not committed)", "trained", "large"].index(t)):
        lines.append(f"#### {tier}")
        lines.append("")
        lines.append("| folder / file | opset, IR | nodes | initializers (same-named as checkpoint) | max abs diff ORT vs PyTorch | operators (count) |")
        lines.append("|---|---|---:|---|---:|---|")
        notes = []
        for t, e, f, info in rows:
            if t != tier:
                continue
            if "error" in info:
                lines.append(f"| {e['name']}/{f} | | | | | export failed: {info['error']} |")
                continue
            opset = ", ".join(f"{k} {v}" for k, v in info["opsets"].items())
            ops = " ".join(f"{short_op(o)}×{n}" for o, n in sorted(info["ops"].items(), key=lambda kv: -kv[1]))
            lines.append(f"| {e['name']}/{f} | {opset}, IR {info['ir_version']} | {info['nodes']} | "
                         f"{info['initializers']} ({info['initializers_named_as_state_dict']}) | "
                         f"{info['max_abs_diff_vs_pytorch']:.1e} | {ops} |")
            fs = findings(e, f, info)
            if fs:
                notes.append(f"- `{e['name']}/{f}`: " + "; ".join(fs) + ".")
        lines.append("")
        lines.extend(notes)
        lines.append("")
    # Unnamed initializer names, one example of each relation per folder, dynamo and legacy.
    lines.append("### How unnamed initializers relate to the checkpoint (examples)")
    lines.append("")
    lines.append("One example per kind of relation and file (tiny tier); `computed` means the bytes are in no")
    lines.append("checkpoint tensor, any slice of one or its transpose (folded BatchNorm, fused constants).")
    lines.append("")
    for t, e, f, info in rows:
        if t != "tiny" or "error" in info:
            continue
        seen = {}
        for name, r in info["unnamed_initializers"].items():
            kind = re.sub(r"= \S+?(\[.*\])?(\.T| reshaped)?$", lambda m: "= key" + ("[a:b]" if m.group(1) else "") + (m.group(2) or ""), r["is"])
            if kind not in seen and not kind.endswith("constant"):
                seen[kind] = f"`{name}` {r['shape']} {r['is']}"
        if seen:
            lines.append(f"- `{e['name']}/{f}`: " + "; ".join(seen.values()))
    replace_between(path, "operators", "\n".join(lines))


def safetensors_keys(path):
    """[(key, shape, dtype)] from a safetensors header, in natural order (digit runs compared as numbers)."""
    import struct
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
    header.pop("__metadata__", None)
    natural = lambda k: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", k)]
    return [(k, v["shape"], v["dtype"]) for k, v in sorted(header.items(), key=lambda kv: natural(kv[0]))]


_INDEXED = re.compile(r"^(?P<stem>|layer|stage|block|.*_)(?P<i>\d+)$")


def _split_index(component):
    m = _INDEXED.match(component)
    return (m.group("stem"), int(m.group("i"))) if m else None


def _ranges(ix):
    ix = sorted(ix)
    out, start, prev = [], ix[0], ix[0]
    for i in ix[1:] + [None]:
        if i is not None and i == prev + 1:
            prev = i
            continue
        out.append(str(start) if start == prev else f"{start}-{prev}")
        if i is not None:
            start = prev = i
    return ",".join(out)


def key_patterns(keys):
    """{key: pattern}. An indexed path component (`3`, `layer2`, `encoder_layer_0`) becomes `N` when
    all its indexed siblings hold the same structure (same relative tensor paths and ranks), else the
    indices of its structural class (`features.{2-6}`), so that a Conv and the BatchNorm beside it in
    a Sequential, or blocks of different kinds, stay apart."""
    tree = {}
    for key, shape, _ in keys:
        node = tree
        for c in key.split("."):
            node = node.setdefault(c, {})
        node[None] = tuple(shape)

    sig_cache = {}

    def signature(node):
        if id(node) in sig_cache:
            return sig_cache[id(node)]
        out = set()
        for c, child in node.items():
            if c is None:
                out.add(("", len(child)))
                continue
            idx = _split_index(c)
            tok = f"{idx[0]}#" if idx else c
            for rel, rank in signature(child):
                out.add((tok + ("." + rel if rel else ""), rank))
        sig_cache[id(node)] = frozenset(out)
        return sig_cache[id(node)]

    def token(parent, c):
        idx = _split_index(c)
        if not idx:
            return c
        stem = idx[0]
        sibs = {k: v for k, v in parent.items() if k is not None and _split_index(k) and _split_index(k)[0] == stem}
        def group_sig(v):
            # Modules that hold tensors directly (Linear, Conv, norms) are also told apart by shape,
            # so that `mlp.0` [64, 32] and `mlp.3` [32, 64] stay two lines.
            if all(k is None or set(ch) == {None} for k, ch in v.items()):
                return signature(v), tuple(sorted((k, ch[None]) for k, ch in v.items() if k is not None))
            return signature(v), None
        classes = collections.defaultdict(list)
        for k, v in sibs.items():
            classes[group_sig(v)].append(_split_index(k)[1])
        if len(classes) == 1:
            return stem + "N"
        mine = classes[group_sig(parent[c])]
        return stem + (str(mine[0]) if len(mine) == 1 else "{" + _ranges(mine) + "}")

    out = {}
    for key, _, _ in keys:
        node, parts = tree, []
        for c in key.split("."):
            parts.append(token(node, c))
            node = node[c]
        out[key] = ".".join(parts)
    return out


def compact_keys(keys):
    """One line per module pattern: `pattern.{a, b} shape   (×count, e.g. first module)`."""
    patterns = key_patterns(keys)
    groups = collections.OrderedDict()
    for key, shape, dtype in keys:
        prefix, _, leaf = key.rpartition(".")
        ppattern = patterns[key].rpartition(".")[0]
        g = groups.setdefault(ppattern, {"example": prefix, "modules": set(), "leaves": collections.OrderedDict()})
        g["modules"].add(prefix)
        g["leaves"].setdefault(leaf, (shape, dtype))
    lines = []
    for pattern, g in groups.items():
        leaves = g["leaves"]
        shapes = {tuple(s) for s, d in leaves.values() if d in ("F32", "float32")}
        parts = []
        for leaf, (shape, dtype) in leaves.items():
            odd = dtype not in ("F32", "float32")
            if len(shapes) > 1 or odd:
                parts.append(f"{leaf} {list(shape)}" + (f" {dtype}" if odd else ""))
            else:
                parts.append(leaf)
        common = f" {list(next(iter(shapes)))}" if len(shapes) == 1 else ""
        names = parts[0] if len(parts) == 1 else "{" + ", ".join(parts) + "}"
        line = (f"{pattern}.{names}" if pattern else names) + common
        count = len(g["modules"])
        if count > 1:
            line += f"   (×{count}, e.g. {g['example']})"
        lines.append(line)
    return lines


def config_summary(folder):
    p = os.path.join(folder, "config.json")
    if not os.path.exists(p):
        return None
    c = json.load(open(p))
    return c


def write_readme_layouts(manifests, path, folders):
    lines = []
    shown = set()
    for tier, e in manifests:
        if tier not in ("tiny", "tiny (not committed)", "trained"):
            continue
        key = e["name"]
        lines.append(f"#### `{e['name']}` ({tier})")
        lines.append("")
        shapes = " ".join(str(d) for d in e["input_shape"])
        norm = f"mean {e['mean']}, std {e['std']}" if e.get("mean") else "no normalisation declared"
        lines.append(f"{e['library']} `{e['architecture']}`, scheme `{e['scheme']}`, {e['parameters']} parameters, "
                     f"input `x` [{shapes}], {norm}; files: " + ", ".join(f"`{f}` {n}" for f, n in e["files"].items()) + ".")
        if e.get("note"):
            lines.append(f"Note: {e['note']}.")
        lines.append("")
        if e["scheme"] + e["architecture"] in shown and tier == "trained":
            lines.append("Key layout: as the tiny folder of the same scheme (other widths).")
            lines.append("")
            continue
        shown.add(e["scheme"] + e["architecture"])
        folder = folders.get((tier, e["name"]), "")
        lines.append("```")
        lines.extend(compact_keys(safetensors_keys(os.path.join(folder, "model.safetensors"))))
        lines.append("```")
        cfg = config_summary(folder)
        if cfg is not None:
            if e["library"] == "timm":
                pc = cfg.get("pretrained_cfg", {})
                brief = {k: cfg[k] for k in ("architecture", "num_classes", "num_features", "global_pool", "model_args") if k in cfg}
                brief["label_names"] = "[...]" if "label_names" in cfg else None
                brief["pretrained_cfg"] = {k: pc[k] for k in ("input_size", "mean", "std", "crop_pct", "interpolation",
                                                              "first_conv", "classifier", "num_classes") if k in pc}
            else:
                brief = {k: v for k, v in cfg.items() if k not in ("id2label", "label2id", "transformers_version")}
                brief["id2label"] = {"0": cfg["id2label"]["0"], "...": "..."} if "id2label" in cfg else None
            lines.append("")
            lines.append("config.json: `" + json.dumps(brief, separators=(", ", ": ")) + "`")
        lines.append("")
    replace_between(path, "layouts", "\n".join(lines))


def write_readme_tables(manifests, path):
    """The trained models' accuracies and the large models' sizes."""
    lines = ["| folder | library call | params | epochs | train s | test acc | per-class test accuracy 0–9 | ORT max abs diff (dynamo / legacy) |",
             "|---|---|---:|---:|---:|---:|---|---|"]
    for tier, e in manifests:
        if tier != "trained":
            continue
        a = e["accuracy"]
        per = " ".join(f"{a['per_class'][str(c)]:.2f}" for c in range(10))
        diffs = " / ".join(f"{i['max_abs_diff_vs_pytorch']:.1e}" if "error" not in i else "failed" for i in e["onnx"].values())
        lines.append(f"| `{e['name']}` | {e['library']} `{e['architecture']}` | {e['parameters']:,} | {a['epochs']} | "
                     f"{a['seconds']:.0f} | {a['test_accuracy']:.4f} | {per} | {diffs} |")
    lines.append("")
    lines.append("`train s`: wall seconds for training, export and checks, two threads on the shared 2-core machine.")
    replace_between(path, "trained", "\n".join(lines))
    lines = ["| folder | params | bytes (safetensors / onnx / onnx.data) | opset | ORT max abs diff |", "|---|---:|---|---|---:|"]
    for tier, e in manifests:
        if tier != "large":
            continue
        f = e["files"]
        o = e["onnx"].get("model.onnx", {})
        lines.append(f"| `{e['name']}` | {e['parameters']:,} | {f.get('model.safetensors', 0):,} / {f.get('model.onnx', 0):,} / "
                     f"{f.get('model.onnx.data', 0):,} | {', '.join(f'{k} {v}' for k, v in o.get('opsets', {}).items())} | {o.get('max_abs_diff_vs_pytorch', float('nan')):.1e} |")
    replace_between(path, "large", "\n".join(lines))
