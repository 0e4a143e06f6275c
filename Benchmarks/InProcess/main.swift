// In-process timing of the SVD engine, the counterpart of the PyTorch side of svd_bench.py:
// the model and the data set are loaded once, then the algorithm (sample selection, statistics,
// factorisations, update) runs --runs times in this process and the median is printed, so both
// sides are timed warm, from the loaded model to the edited weights.
//
//   .build-rel/release/svd-inprocess MODEL DATA --classes 5,7 [--runs 5] [--max-patches 0]
//
// Prints one JSON object: {"runs": [...seconds...], "median": s, "phases": {phase: median s}}.
import Foundation
import ModelRuntime
import TensorCore
import Unlearning

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("svd-inprocess: \(message)\n".utf8))
    exit(64)
}

var positional: [String] = []
var classes: [Int] = []
var runs = 5, maxPatches = 0
func integer(_ text: some StringProtocol) -> Int {
    guard let value = Int(text) else { fail("\(text) is not an integer") }
    return value
}
var arguments = CommandLine.arguments.dropFirst()
while let argument = arguments.popFirst() {
    func value() -> String {
        guard let value = arguments.popFirst() else { fail("\(argument) needs a value") }
        return value
    }
    switch argument {
    case "--classes": classes = value().split(separator: ",").map(integer)
    case "--runs": runs = integer(value())
    case "--max-patches": maxPatches = integer(value())
    default: positional.append(argument)
    }
}
guard positional.count == 2, !classes.isEmpty, runs > 0 else {
    fail("usage: svd-inprocess MODEL DATA --classes C [--runs N] [--max-patches P]")
}

BLAS.configureThreads()
Allocator.keepFreedMemory()
do {
    let data = try Dataset.load(positional[1])
    let model = try Model.load(positional[0], sampleShape: data.sampleShape)
    var configuration = SVDUnlearning.Configuration(forgetClasses: classes)
    configuration.selection.maxPatches = maxPatches
    let start = Date()
    let clock = { Date().timeIntervalSince(start) }
    var totals: [Double] = [], phases: [String: [Double]] = [:]
    for _ in 0..<runs {
        let before = clock()
        let result = try SVDUnlearning.run(model, data: data, configuration: configuration, clock: clock)
        totals.append(clock() - before)
        for (phase, seconds) in result.timings { phases[phase, default: []].append(seconds) }
    }
    func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    }
    let object: [String: Any] = ["runs": totals, "median": median(totals), "phases": phases.mapValues(median)]
    let json = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    print(String(decoding: json, as: UTF8.self))
} catch {
    FileHandle.standardError.write(Data("svd-inprocess: \(error)\n".utf8))
    exit(1)
}
