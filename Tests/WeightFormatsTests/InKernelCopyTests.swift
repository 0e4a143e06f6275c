import Foundation
import Glibc
import Testing
import WeightFormats
import _TestSupport

/// Deterministic filler bytes (a linear congruential sequence), different per `seed`.
private func pattern(_ count: Int, seed: UInt64) -> [UInt8] {
    var state = seed &* 6364136223846793005 &+ 1442695040888963407
    return (0..<count).map { _ in
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return UInt8(truncatingIfNeeded: state >> 33)
    }
}

/// Runs `body` with every in-kernel copy failing with `code` (0: no simulation).
private func withSimulatedErrno<R>(_ code: Int32, _ body: () throws -> R) rethrows -> R {
    InKernelCopy.simulatedErrno.store(code, ordering: .relaxed)
    defer { InKernelCopy.simulatedErrno.store(0, ordering: .relaxed) }
    return try body()
}

/// The "can't copy here" errors that must fall back to a buffered copy.
private let unsupportedErrors: [Int32] = [EXDEV, ENOSYS, EINVAL, EOPNOTSUPP]

/// The suite is serialized: the simulated error is process-wide (other suites never set it, and
/// their outputs are the same bytes on either path).
@Suite("in-kernel copies of unchanged input bytes (copy_file_range) and their buffered fallback", .serialized)
struct InKernelCopyTests {
    @Test("views of a mapped input are copied by the kernel at any offset; other bytes are buffered; the file is the same bytes")
    func writerCopiesViews() throws {
        let directory = TemporaryDirectory()
        let source = pattern(3 << 20 + 12_345, seed: 1)
        let input = try MappedFile(path: directory.write("in.bin", source))
        let header = pattern(1000, seed: 2)
        // Unaligned, overlapping, small (buffered) and large (kernel) views, with other bytes between them.
        let pieces: [Range<Int>] = [7..<(7 + 300_001), 100..<200, 1 << 20..<(3 << 20), 5..<(5 + InKernelCopy.minimumBytes), 0..<source.count]
        var expected = header
        let writer = try AtomicFileWriter(destination: directory.path("out.bin"))
        try writer.write(header)
        for piece in pieces {
            try writer.write(UnsafeRawBufferPointer(rebasing: input.bytes[piece]))
            try writer.write([0xAB])
            expected += source[piece] + [0xAB]
        }
        // Consecutive views of the file (as a shard's tensors are) are copied as one range.
        for piece in [0..<(1 << 20), (1 << 20)..<(1 << 20 + 65_536), (1 << 20 + 65_536)..<(2 << 20)] {
            try writer.write(UnsafeRawBufferPointer(rebasing: input.bytes[piece]))
            expected += source[piece]
        }
        try writer.write(UnsafeRawBufferPointer(rebasing: input.bytes[3..<(3 + InKernelCopy.minimumBytes)]))
        expected += source[3..<(3 + InKernelCopy.minimumBytes)]
        let kernelBytes = pieces.filter { $0.count >= InKernelCopy.minimumBytes }.map(\.count).reduce(0, +) + (2 << 20) + InKernelCopy.minimumBytes
        #expect(writer.bytesWritten == expected.count)
        try writer.commit()
        #expect(writer.bytesCopiedInKernel == kernelBytes)
        #expect(fileContents(directory.path("out.bin")) == expected)
    }

    @Test("bytes written before a view that equal the input's bytes before it join the copy (a file copied whole, header included); others do not")
    func equalPrefixJoinsCopy() throws {
        let directory = TemporaryDirectory()
        let source = pattern(1 << 20, seed: 7)
        let input = try MappedFile(path: directory.write("in.bin", source))
        let same = try AtomicFileWriter(destination: directory.path("same.bin"))
        try same.write(Array(source[0..<5000]))   // a header equal to the input's
        for piece in [5000..<6000, 6000..<(1 << 20)] { try same.write(UnsafeRawBufferPointer(rebasing: input.bytes[piece])) }
        try same.commit()
        #expect(same.bytesCopiedInKernel == source.count)
        #expect(fileContents(directory.path("same.bin")) == source)
        let other = try AtomicFileWriter(destination: directory.path("other.bin"))
        var header = Array(source[0..<5000])
        header[17] ^= 1
        try other.write(header)
        try other.write(UnsafeRawBufferPointer(rebasing: input.bytes[5000...]))
        try other.commit()
        #expect(other.bytesCopiedInKernel == source.count - 5000)
        #expect(fileContents(directory.path("other.bin")) == header + source[5000...])
    }

    @Test("EXDEV, ENOSYS, EINVAL and EOPNOTSUPP fall back to the buffered copy with the same bytes", arguments: unsupportedErrors)
    func fallback(code: Int32) throws {
        let directory = TemporaryDirectory()
        let source = pattern(1 << 20, seed: 3)
        let input = try MappedFile(path: directory.write("in.bin", source))
        let writer = try AtomicFileWriter(destination: directory.path("out.bin"))
        try withSimulatedErrno(code) {
            try writer.write([1, 2, 3])
            try writer.write(UnsafeRawBufferPointer(rebasing: input.bytes[10..<source.count]))
            try writer.write(input.bytes)
        }
        #expect(writer.bytesCopiedInKernel == 0)
        try writer.commit()
        #expect(fileContents(directory.path("out.bin")) == [1, 2, 3] + source[10...] + source)
    }

    @Test("a real error of the copy (EIO) fails the write naming the output, and nothing is written")
    func realErrorFails() throws {
        let directory = TemporaryDirectory()
        let input = try MappedFile(path: directory.write("in.bin", pattern(1 << 20, seed: 4)))
        let out = directory.path("out.bin")
        let error = try withSimulatedErrno(EIO) {
            try #require(throws: WeightFileError.self) {
                let writer = try AtomicFileWriter(destination: out)
                try writer.write(input.bytes)
                try writer.commit()
            }
        }
        #expect(error.path == out)
        #expect(String(describing: error).contains(String(cString: strerror(EIO))))
        #expect(directory.contents() == ["in.bin"])
    }

    @Test("convert (same dtype, safetensors and shards) and a sharded rewrite with one tensor replaced: the same bytes by kernel copy and by the fallback")
    func convertAndEditSameBytes() throws {
        let directory = TemporaryDirectory()
        // Tensors from 4 B to 1.5 MiB, so that both paths occur in one file.
        let sizes: [(String, [Int])] = [("a.weight", [384, 1024]), ("a.bias", [1]), ("b.weight", [16, 1024]), ("c", [70, 300])]
        var values: [String: [UInt8]] = [:]
        for (index, (name, shape)) in sizes.enumerated() { values[name] = pattern(shape.reduce(4, *), seed: UInt64(10 + index)) }
        let infos = sizes.map { TensorInfo(name: $0.0, dtype: .F32, shape: $0.1) }
        let input = directory.path("in.safetensors")
        try SafeTensorsWriter.write(to: input, tensors: infos, metadata: ["format": "pt"], bytes: { info, consume in
            try values[info.name]!.withUnsafeBytes { try consume($0) }
        })
        // Four kinds of output, each written by the kernel path and by the forced fallback.
        func outputs(_ tag: String) throws -> [[UInt8]] {
            // The same names in a folder per path (the index names its shards).
            try FileManager.default.createDirectory(atPath: directory.path(tag), withIntermediateDirectories: false)
            let reader = try Checkpoint.open(input)
            let single = directory.path("\(tag)/out.safetensors"), sharded = directory.path("\(tag)/sharded.safetensors")
            try Checkpoint.convert(reader, to: single, options: ConversionOptions(container: .safetensors))
            let shards = try Checkpoint.convert(reader, to: sharded, options: ConversionOptions(container: .shardedSafetensors(maxShardSize: 1 << 20))).files
            // The apply output's shape: a sharded input rewritten with one tensor replaced, the rest views of the input.
            let shardedReader = try Checkpoint.open(shards.last!)
            let edited = directory.path("\(tag)/edited.safetensors")
            let replacement = pattern(16 * 1024 * 4, seed: 99)
            let editedFiles = try SafeTensorsWriter.writeSharded(to: edited, groups: [shardedReader.tensors.filter { $0.name.hasPrefix("a.") },
                                                                                   shardedReader.tensors.filter { !$0.name.hasPrefix("a.") }],
                                                                 metadata: ["format": "pt"], bytes: { info, consume in
                if info.name == "b.weight" { try replacement.withUnsafeBytes { try consume($0) } } else {
                    try shardedReader.withInputBytes(of: info.name) { try consume($0) }
                }
            })
            return ([single] + shards + editedFiles).map(fileContents)
        }
        let kernel = try outputs("kernel")
        let buffered = try withSimulatedErrno(EXDEV) { try outputs("buffered") }
        #expect(kernel.count == 8)   // 1 file, 3 shards + index, 2 shards + index
        for (k, b) in zip(kernel, buffered) { #expect(!k.isEmpty && k == b) }
        // Converting a reference-layout file to safetensors reproduces it.
        #expect(kernel[0] == fileContents(input))
    }

    @Test("an ONNX model rewritten with a small initializer replaced: the large one and the bytes around are the same by kernel copy and by the fallback")
    func onnxSplice() throws {
        let directory = TemporaryDirectory()
        let big = pattern(300 * 1024 * 4, seed: 5), small = [Float](repeating: 0.5, count: 4)
        let bytes = PB.model(initializers: [
            PB.tensor("big", 1, [300, 1024], PB.bytes(9, big)),
            PB.tensor("small", 1, [4], PB.bytes(9, [UInt8](repeating: 0, count: 16))),
            PB.tensor("tail", 1, [100, 1024], PB.bytes(9, pattern(100 * 1024 * 4, seed: 6))),
        ])
        let model = try ONNXModel(path: directory.write("in.onnx", bytes))
        try model.write(to: directory.path("kernel.onnx"), replacing: [TensorInfo(name: "small", dtype: .F32, shape: [4])],
                        bytes: floatProvider(["small": small]))
        try withSimulatedErrno(ENOSYS) {
            try model.write(to: directory.path("buffered.onnx"), replacing: [TensorInfo(name: "small", dtype: .F32, shape: [4])],
                            bytes: floatProvider(["small": small]))
        }
        try model.write(to: directory.path("same.onnx"), replacing: [], bytes: { _, _ in Issue.record("asked for bytes") })
        let kernel = fileContents(directory.path("kernel.onnx"))
        #expect(kernel.count == bytes.count && kernel == fileContents(directory.path("buffered.onnx")))
        #expect(kernel != bytes)
        #expect(fileContents(directory.path("same.onnx")) == bytes)
        let reread = try ONNXModel(path: directory.path("kernel.onnx"))
        #expect(try reread.bytes(of: "big") == big)
        #expect(try values(reread, "small", as: Float.self) == small)
    }
}
