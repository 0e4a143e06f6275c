// swift-tools-version:6.1
import Foundation
import PackageDescription

// libFuzzer targets for modelforget's readers, built apart from the main package so that its
// ordinary build never sees `-sanitize=fuzzer`. Build and run with `Fuzz/run.sh TARGET SECONDS`
// (see Fuzz/README.md); the targets link libFuzzer's own `main`.
//
// The main package is a path dependency; SwiftPM names it after its folder, which differs
// between checkouts, so the name is taken from this file's location.
let mainPackage = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().lastPathComponent

func product(_ name: String) -> Target.Dependency { .product(name: name, package: mainPackage) }

let targets = ["fuzz-safetensors", "fuzz-npy", "fuzz-npz", "fuzz-onnx-model", "fuzz-onnx-graph"]

let package = Package(
    name: "modelforget-fuzz",
    platforms: [.macOS(.v15)],
    dependencies: [.package(path: "..")],
    targets: [
        .target(name: "FuzzSupport", dependencies: [product("Safeguards"), product("WeightFormats"), product("TensorCore"),
                                                    product("ModelRuntime")]),
    ] + targets.map { name in
        .executableTarget(name: name, dependencies: ["FuzzSupport"],
                          swiftSettings: [.unsafeFlags(["-parse-as-library"])])
    }
)
