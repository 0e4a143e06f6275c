#!/usr/bin/env python3
"""Where an edited ONNX model's retain-accuracy loss comes from (dev-time; onnx, onnxruntime, numpy).

Applies the edited model's changed initializers to the original model, all of them or only those whose
name contains one of the substrings given with --only, and prints the forget and retain accuracy on the
data, then each Conv/Gemm output's squared relative change against the original model on the
retained-class samples: sum((y' - y)^2) / sum(y^2).

    python3 Benchmarks/layer_edit_effect.py ORIGINAL.onnx EDITED.onnx DATA.npz --classes 3 [--only embedder,stages.0]

Used for BENCHMARKS.md "PGU from statistics: where the transformers ResNet's loss came from": the first
layer's edit alone against each stage's.
"""
import argparse

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("original")
    parser.add_argument("edited")
    parser.add_argument("data")
    parser.add_argument("--classes", required=True, help="forget classes, comma-separated")
    parser.add_argument("--only", default="", help="apply only the edits whose initializer name contains one of these")
    parser.add_argument("--samples", type=int, default=500, help="retained-class samples for the per-layer changes")
    args = parser.parse_args()
    forget = [int(c) for c in args.classes.split(",")]
    only = [o for o in args.only.split(",") if o]

    original, edited = onnx.load(args.original), onnx.load(args.edited)
    edits = {i.name: i for i in edited.graph.initializer}
    changed = [i.name for i in original.graph.initializer
               if i.name in edits and not np.array_equal(numpy_helper.to_array(i), numpy_helper.to_array(edits[i.name]))]
    applied = [n for n in changed if not only or any(o in n for o in only)]
    print(f"{len(changed)} initializers changed, {len(applied)} applied")

    def session(replace):
        model = onnx.ModelProto()
        model.CopyFrom(original)
        for index, init in enumerate(model.graph.initializer):
            if init.name in replace:
                model.graph.initializer[index].CopyFrom(edits[init.name])
        outputs = [n.output[0] for n in model.graph.node if n.op_type in ("Conv", "Gemm")]
        known = {o.name for o in model.graph.output}
        for name in outputs:
            if name not in known:
                model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
        return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]), outputs

    data = np.load(args.data)
    x, y = data["x"].astype(np.float32), data["y"]
    is_forget = np.isin(y, forget)
    before, names = session(set())
    after, _ = session(set(applied))
    input_name = before.get_inputs()[0].name
    logits = lambda s: s.run([s.get_outputs()[0].name], {input_name: x})[0]
    for label, s in (("original", before), ("edited", after)):
        predicted = logits(s).argmax(1)
        print(f"{label}: forget {100 * (predicted[is_forget] == y[is_forget]).mean():.2f} %, "
              f"retain {100 * (predicted[~is_forget] == y[~is_forget]).mean():.2f} %")
    retain = x[~is_forget][: args.samples]
    a = before.run(names, {input_name: retain})
    b = after.run(names, {input_name: retain})
    for name, u, v in zip(names, a, b):
        print(f"{name[:70]:70s} {((v - u) ** 2).sum() / max((u ** 2).sum(), 1e-30):.5f}")


if __name__ == "__main__":
    main()
