// Forward throughput of a model in this process, the counterpart of forward_bench.py's PyTorch and
// onnxruntime sides: the model is loaded once, a batch of random inputs (seeded) is made once,
// then `Evaluation.logits` runs over --samples samples in batches of --batch (the workers of
// `Parallel` take whole batches) --runs times after one warm-up run.
// With --backward, each batch instead runs forward and backward to every weight's gradient of the
// mean cross-entropy against seeded random labels (`BatchGradients.compute`, the pass the retain
// repair, PGU and forget vectors train with: the batch's two halves on the two workers).
//
//   .build-rel/release/forward-bench MODEL [--batch 128] [--samples 512] [--runs 5] [--shape 3,32,32] [--backward]
//
// Prints one JSON object: {"images_per_second": [...], "median": images/s, "cpu_seconds": [...],
// "corename": OpenBLAS kernel, "samples": N, "batch": B}.
import Foundation
import ModelRuntime
import TensorCore
import Unlearning

func fail(_ message: String) -> Never {
    FileHandle.standardError.write(Data("forward-bench: \(message)\n".utf8))
    exit(64)
}

var positional: [String] = []
var batch = 128, samples = 512, runs = 5
var shape: [Int]?
var backward = false
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
    case "--batch": batch = integer(value())
    case "--samples": samples = integer(value())
    case "--runs": runs = integer(value())
    case "--shape": shape = value().split(separator: ",").map(integer)
    case "--backward": backward = true
    default: positional.append(argument)
    }
}
guard positional.count == 1, batch > 0, samples > 0, runs > 0 else {
    fail("usage: forward-bench MODEL [--batch B] [--samples N] [--runs R] [--shape C,H,W] [--backward]")
}

func cpuSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

BLAS.configureThreads()
Allocator.keepFreedMemory()
do {
    let model = try Model.load(positional[0], sampleShape: shape)
    guard let sampleShape = shape ?? model.sampleShape else { fail("give --shape: the model does not state its input shape") }
    var generator = SplitMix64(seed: 0)
    let size = sampleShape.reduce(1, *)
    let values = (0..<(samples * size)).map { _ in Float(Double(generator.next() >> 11) / Double(1 << 53) * 2 - 1) }
    let labels = (0..<samples).map { _ in Int(generator.next() % 10) }
    let data = Dataset(x: Tensor(shape: [samples] + sampleShape, data: values), labels: labels)
    /// One pass over the data: forward alone, or forward and backward batch by batch.
    func pass() throws {
        guard backward else { _ = try Evaluation.logits(model, data, batchSize: batch); return }
        for start in stride(from: 0, to: samples, by: batch) {
            let indices = Array(start..<min(start + batch, samples))
            _ = try BatchGradients.compute(model, parameters: [:], data: data, batch: indices) { logits, rows, total in
                // The half's mean cross-entropy, weighted by its share of the batch: the batch's mean.
                let (loss, halfGradient) = Normalization.crossEntropy(logits: logits, labels: rows.map { labels[$0] % logits.shape[1] })
                var gradient = halfGradient
                let share = Float(rows.count) / Float(total)
                for i in gradient.data.indices { gradient.data[i] *= share }
                return (Double(loss * share), gradient)
            }
        }
    }
    try pass()   // warm-up
    var rates: [Double] = [], cpu: [Double] = []
    for _ in 0..<runs {
        let (start, cpuStart) = (Date(), cpuSeconds())
        try pass()
        rates.append(Double(samples) / Date().timeIntervalSince(start))
        cpu.append(cpuSeconds() - cpuStart)
    }
    let sorted = rates.sorted()
    let median = sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
    let object: [String: Any] = ["images_per_second": rates, "median": median, "cpu_seconds": cpu, "corename": BLAS.coreName,
                                 "samples": samples, "batch": batch, "backward": backward]
    let json = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
    print(String(decoding: json, as: UTF8.self))
} catch {
    FileHandle.standardError.write(Data("forward-bench: \(error)\n".utf8))
    exit(1)
}
