// Decodes and preprocesses every image of an image source, batch by batch, and prints images/s:
// the modelforget side of Benchmarks/image_bench.py (see BENCHMARKS.md).
//
//   image-loading ROOT [--resize N] [--crop N] [--interpolation bilinear] [--batch 64] [--threads T] [--epochs E]
import Dispatch
import Foundation
import ImageData
import TensorCore

// As the modelforget executable does: freed batches stay with malloc instead of being unmapped.
Allocator.keepFreedMemory()

let arguments = Array(CommandLine.arguments.dropFirst())
guard let root = arguments.first else {
    FileHandle.standardError.write(Data("usage: image-loading ROOT [--resize N] [--crop N] [--interpolation F] [--batch B] [--threads T] [--epochs E]\n".utf8))
    exit(64)
}
@MainActor func option(_ name: String) -> String? {
    guard let i = arguments.firstIndex(of: name), i + 1 < arguments.count else { return nil }
    return arguments[i + 1]
}
let resize = Int(option("--resize") ?? "256")!
let crop = Int(option("--crop") ?? "224")!
let batch = Int(option("--batch") ?? "64")!
let epochs = Int(option("--epochs") ?? "2")!
let threads = Int(option("--threads") ?? String(ProcessInfo.processInfo.activeProcessorCount))!
let interpolation = Interpolation(name: option("--interpolation") ?? "bilinear")!
let preprocessing = Preprocessing(resize: .shorterSide(resize), crop: .init(square: crop), interpolation: interpolation,
                                  mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])
func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

let start = now()
let collection = try ImageCollection.open(root)
let samples = try ImageSamples(collection, loading: ImageLoading(preprocessing: preprocessing, threads: threads))
print(String(format: "index: %d images in %.3f s", samples.count, now() - start))
var checksum = 0.0
for epoch in 0..<epochs {
    let t0 = now()
    try samples.forEachBatch(batch) { _, values in checksum += Double(values[0]) }
    let seconds = now() - t0
    print(String(format: "epoch %d: %d images in %.3f s = %.1f images/s (threads %d, batch %d, %@)", epoch, samples.count, seconds,
                 Double(samples.count) / seconds, threads, batch, preprocessing.pipeline))
}
print("checksum \(checksum)")
