import Foundation

/// Locates files of the repository from tests, independent of the working directory.
public enum Fixtures {
    /// The package root (the folder holding Package.swift).
    public static let packageRoot: URL = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url
    }()

    /// A path below the package root, e.g. `Fixtures.path("Samples/mlp.safetensors")`.
    public static func path(_ relative: String) -> String {
        packageRoot.appendingPathComponent(relative).path
    }
}
