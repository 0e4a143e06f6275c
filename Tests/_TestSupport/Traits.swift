import Foundation
import Testing

extension Tag {
    /// Checks modelforget against a reference implementation run in Python (numpy, safetensors,
    /// onnx, onnxruntime): skipped with a reason where those are not installed.
    @Tag public static var interop: Self
    /// Runs whole sample models end to end (seconds each).
    @Tag public static var slow: Self
}

/// Which Python modules `python3` can import (asked once per set of modules).
public enum PythonModules {
    private static let cache = Cache()

    private final class Cache: @unchecked Sendable {
        let lock = NSLock()
        var answers: [[String]: Bool] = [:]
    }

    /// Whether `python3 -c "import a, b"` succeeds for `modules`.
    public static func available(_ modules: [String]) -> Bool {
        let key = modules.sorted()
        cache.lock.lock()
        defer { cache.lock.unlock() }
        if let known = cache.answers[key] { return known }
        let answer = (try? ProcessRunner.python("import " + key.joined(separator: ", ")).status) == 0
        cache.answers[key] = answer
        return answer
    }
}

extension Trait where Self == ConditionTrait {
    /// Runs the test only where `python3` imports `modules`; otherwise it is skipped and says why.
    public static func requiresPython(_ modules: String...) -> Self {
        .enabled(if: PythonModules.available(modules),
                 "needs python3 with \(modules.joined(separator: ", ")) (bash .ci/install installs them)")
    }
}
