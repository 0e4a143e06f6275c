// swift-tools-version:6.1
import PackageDescription

// Layers point one way: WeightFormats knows files, not math; TensorCore knows math, not files;
// only the `modelforget` executable imports ArgumentParser.
let package = Package(
    name: "modelforget",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "modelforget", targets: ["modelforget"]),
        .library(name: "Safeguards", targets: ["Safeguards"]),
        .library(name: "WeightFormats", targets: ["WeightFormats"]),
        .library(name: "TensorCore", targets: ["TensorCore"]),
        .library(name: "ModelRuntime", targets: ["ModelRuntime"]),
        .library(name: "Unlearning", targets: ["Unlearning"]),
        .library(name: "Reports", targets: ["Reports"]),
        .library(name: "ImageData", targets: ["ImageData"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        // MARK: - System libraries (Debian packages named in `providers`)
        .systemLibrary(name: "CJSONC", path: "Sources/CJSONC", pkgConfig: "json-c",
                       providers: [.apt(["libjson-c-dev"])]),
        .systemLibrary(name: "CArchive", path: "Sources/CArchive", pkgConfig: "libarchive",
                       providers: [.apt(["libarchive-dev"])]),
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CLapacke", path: "Sources/CLapacke", pkgConfig: "lapacke",
                       providers: [.apt(["liblapacke-dev"])]),
        // libsvm-dev ships no pkg-config file; the header is <libsvm/svm.h>, the library -lsvm.
        .systemLibrary(name: "CLibSVM", path: "Sources/CLibSVM", providers: [.apt(["libsvm-dev"])]),
        .systemLibrary(name: "CJPEG", path: "Sources/CJPEG", pkgConfig: "libjpeg", providers: [.apt(["libjpeg62-turbo-dev"])]),
        .systemLibrary(name: "CPNG", path: "Sources/CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CWebP", path: "Sources/CWebP", pkgConfig: "libwebp", providers: [.apt(["libwebp-dev"])]),
        // libjpeg and libpng report errors by longjmp, which Swift cannot catch: C wrappers own the setjmp.
        .target(name: "CImageCodecs", dependencies: ["CJPEG", "CPNG"]),

        // MARK: - Libraries
        // Checked size arithmetic, the allocation budget and the escaping of text from files.
        .target(name: "Safeguards"),
        .target(name: "WeightFormats", dependencies: ["Safeguards", "CJSONC", "CArchive"]),
        .target(name: "TensorCore", dependencies: ["Safeguards", "CBLAS", "CLapacke"]),
        // Images as models were trained on them: decoding, PIL-exact resizing, folders, manifests, tar shards.
        .target(name: "ImageData", dependencies: ["Safeguards", "WeightFormats", "CImageCodecs", "CWebP", "CArchive"], exclude: ["README.md"]),
        // Models from weight files: ONNX graphs, recognised layouts, data sets, evaluation, the linear probe.
        .target(name: "ModelRuntime", dependencies: ["Safeguards", "TensorCore", "WeightFormats", "ImageData"]),
        // The unlearning engines.
        .target(name: "Unlearning", dependencies: ["ImageData", "ModelRuntime", "Safeguards", "TensorCore", "WeightFormats"]),
        // Checkpoint diffs, membership inference, relearn time, the HTML/Markdown report of an unlearning.
        .target(name: "Reports", dependencies: ["ModelRuntime", "Safeguards", "TensorCore", "Unlearning", "WeightFormats", "CLibSVM"]),

        // MARK: - Command-line tool
        .executableTarget(
            name: "modelforget",
            dependencies: [
                "Safeguards", "WeightFormats", "TensorCore", "ModelRuntime", "Unlearning", "Reports", "ImageData",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]),

        // MARK: - Benchmarks (dev-time; see BENCHMARKS.md)
        // The SVD engine timed warm in one process, the counterpart of svd_bench.py's PyTorch side.
        .executableTarget(name: "svd-inprocess", dependencies: ["ModelRuntime", "TensorCore", "Unlearning"],
                          path: "Benchmarks/InProcess"),
        // Image decoding + preprocessing throughput, the counterpart of image_bench.py's PIL + torchvision side.
        .executableTarget(name: "image-loading", dependencies: ["ImageData", "TensorCore"], path: "Benchmarks/ImageLoading"),
        // Forward throughput (images/s), the counterpart of forward_bench.py's PyTorch and onnxruntime sides; with
        // --backward, forward and backward passes (the engines' batch gradients), the counterpart of train_step_bench.py.
        .executableTarget(name: "forward-bench", dependencies: ["ModelRuntime", "TensorCore", "Unlearning"], path: "Benchmarks/Forward"),
        // The apply output write alone (one tensor replaced, the rest copied), for copy_bench.py.
        .executableTarget(name: "edited-write", dependencies: ["TensorCore", "Unlearning", "WeightFormats"], path: "Benchmarks/EditedWrite"),

        // MARK: - Tests
        .target(name: "_TestSupport", dependencies: ["TensorCore"], path: "Tests/_TestSupport"),
        .testTarget(name: "SafeguardsTests", dependencies: ["Safeguards"]),
        .testTarget(name: "WeightFormatsTests", dependencies: ["WeightFormats", "_TestSupport"]),
        // Fixtures/ holds the NumPy reference generator and its JSON output, read by path.
        .testTarget(name: "TensorCoreTests", dependencies: ["TensorCore", "_TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "ModelRuntimeTests", dependencies: ["ModelRuntime", "_TestSupport"]),
        // Fixtures/ holds the PIL + torchvision parity images, their expected tensors and the generator.
        .testTarget(name: "ImageDataTests", dependencies: ["ImageData", "WeightFormats", "_TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "UnlearningTests", dependencies: ["Unlearning", "_TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "ReportsTests", dependencies: ["Reports", "_TestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "CLITests", dependencies: ["modelforget", "Unlearning", "_TestSupport"], exclude: ["Snapshots"]),
    ]
)
