import ArgumentParser

struct Vector: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make, combine and apply forget vectors: input perturbations that make a model forget classes.",
        discussion: """
            A forget vector leaves the weights alone: one perturbation with the shape of an input, \
            added to every input, makes the frozen model forget the classes (Formats/forget-vector.md). \
            eval and predict take --vector FV.

            Examples:
              $ modelforget vector make Samples/cnn.onnx --classes 5 --data Samples/digits-train.npz -o fv-5.safetensors
              $ modelforget vector combine fv-5.safetensors fv-7.safetensors --weights 1,1 -o fv-5-7.safetensors
              $ modelforget eval Samples/cnn.onnx --data Samples/digits-test.npz --classes 5,7 --vector fv-5-7.safetensors
            """,
        subcommands: [Make.self, Combine.self, Apply.self])
}
