import Foundation
import Testing
import Unlearning
import _TestSupport

@Suite("modelforget vector, eval --vector")
struct VectorCommandTests {
    @Test("make, eval --vector, combine, apply; a vector made for another model needs --force", .tags(.interop, .slow), .requiresPython("numpy", "safetensors"))
    func makeCombineApply() throws {
        let directory = TemporaryDirectory()
        let cnn = Fixtures.path("Samples/cnn.onnx"), train = Fixtures.path("Samples/digits-train.npz"), test = Fixtures.path("Samples/digits-test.npz")
        for label in ["5", "7"] {
            let make = try ProcessRunner.modelforget(["vector", "make", cnn, "--classes", label, "--data", train, "--beta", "1", "--epochs", "8",
                                                      "-o", directory.path("fv-\(label).safetensors"), "--quiet"])
            #expect(make.status == 0, "\(make.stderr)")
        }
        let eval = try ProcessRunner.modelforget(["eval", cnn, "--data", test, "--classes", "5", "--vector", directory.path("fv-5.safetensors"), "--json"])
        #expect(eval.status == 0, "\(eval.stderr)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(eval.stdout.utf8)) as? [String: Any])
        #expect((report["forget_accuracy"] as? Double ?? 1) <= 0.1)
        #expect((report["retain_accuracy"] as? Double ?? 0) >= 0.93)
        // Membership inference sees the vector on the training samples too: the 5s it learned
        // from now look like non-members (without it, none do: see MembershipInferenceCommandTests).
        let mia = try ProcessRunner.modelforget(["eval", cnn, "--data", test, "--train", train, "--classes", "5", "--mia",
                                                 "--vector", directory.path("fv-5.safetensors"), "--json"])
        #expect(mia.status == 0, "\(mia.stderr)")
        let attacks = try #require((try JSONSerialization.jsonObject(with: Data(mia.stdout.utf8)) as? [String: Any])?["mia"] as? [[String: Any]])
        #expect(attacks.first?["variant"] as? String == "confidence-svc" && (attacks.first?["value"] as? Double ?? 0) > 0.9)

        let combine = try ProcessRunner.modelforget(["vector", "combine", directory.path("fv-5.safetensors"), directory.path("fv-7.safetensors"),
                                                     "--weights", "1,-0.5", "-o", directory.path("fv-mix.safetensors")])
        #expect(combine.status == 0, "\(combine.stderr)")
        let a = try ForgetVectorFile.read(directory.path("fv-5.safetensors")), b = try ForgetVectorFile.read(directory.path("fv-7.safetensors"))
        let mix = try ForgetVectorFile.read(directory.path("fv-mix.safetensors"))
        #expect(mix.classes == [5, 7] && mix.coefficients == [1, -0.5])
        #expect(mix.delta.data == zip(a.delta.data, b.delta.data).map { Float(Double($0)) + Float(-0.5 * Double($1)) })

        let fit = try ProcessRunner.modelforget(["vector", "combine", directory.path("fv-5.safetensors"), directory.path("fv-7.safetensors"),
                                                 "--fit", "--model", cnn, "--classes", "5,7", "--data", train, "--epochs", "3", "--quiet",
                                                 "-o", directory.path("fv-fit.safetensors")])
        #expect(fit.status == 0, "\(fit.stderr)")
        let fitted = try ForgetVectorFile.read(directory.path("fv-fit.safetensors"))
        #expect(fitted.classes == [5, 7] && fitted.coefficients.count == 2 && fitted.settings["fit"] == "coefficients")
        #expect(fitted.settings["initial_coefficients"] == "0.0,0.0" && fitted.settings["selected_epoch"] != nil)
        let w = fitted.coefficients
        #expect(fitted.delta.data == zip(a.delta.data, b.delta.data).map { Float(w[0] * Double($0) + w[1] * Double($1)) })
        let fitWithoutData = try ProcessRunner.modelforget(["vector", "combine", directory.path("fv-5.safetensors"), "--fit", "--model", cnn,
                                                            "-o", directory.path("x.safetensors")])
        #expect(fitWithoutData.status == 64 && fitWithoutData.stderr.contains("--fit needs --model, --classes and --data"))

        let apply = try ProcessRunner.modelforget(["vector", "apply", directory.path("fv-5.safetensors"), "--inputs", test, "-o", directory.path("x.npz")])
        #expect(apply.status == 0, "\(apply.stderr)")
        let check = try ProcessRunner.python("""
            import numpy as np, sys
            from safetensors.numpy import load_file
            a, b, d = np.load(sys.argv[1]), np.load(sys.argv[2]), load_file(sys.argv[3])["delta"]
            print(np.array_equal(a["x"], b["x"] + d), np.array_equal(a["y"], b["y"]))
            """, [directory.path("x.npz"), test, directory.path("fv-5.safetensors")])
        #expect(check.stdout == "True True\n", "\(check.stderr)")

        let mlp = Fixtures.path("Samples/mlp.onnx")
        let other = try ProcessRunner.modelforget(["eval", mlp, "--data", test, "--vector", directory.path("fv-5.safetensors")])
        #expect(other.status == 1)
        #expect(other.stderr.hasPrefix("\(directory.path("fv-5.safetensors")): the vector was made for the model with SHA-256"))
        #expect(other.stderr.hasSuffix("pass --force to use it anyway\n"))
        let forced = try ProcessRunner.modelforget(["predict", mlp, "--inputs", test, "--vector", directory.path("fv-5.safetensors"), "--force",
                                                    "-o", directory.path("p.npz")])
        #expect(forced.status == 0, "\(forced.stderr)")
        let notVector = try ProcessRunner.modelforget(["eval", cnn, "--data", test, "--vector", Fixtures.path("Samples/cnn.safetensors")])
        #expect(notVector.status == 1 && notVector.stderr.contains("not a forget vector"))
    }
}
