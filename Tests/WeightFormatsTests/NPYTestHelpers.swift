import Foundation
import Testing
import WeightFormats
import _TestSupport

/// The path of a fixture written by `Formats/fixtures/numpy/make_fixtures.py`.
func numpyFixture(_ name: String) -> String { Fixtures.path("Formats/fixtures/numpy/\(name)") }

/// A tensor's bytes read as `T` elements.
func values<T>(_ reader: any CheckpointReader, _ name: String, as type: T.Type) throws -> [T] {
    try reader.withBytes(of: name) { raw in
        (0..<(raw.count / MemoryLayout<T>.size)).map {
            raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.size, as: T.self)
        }
    }
}

/// A `.npy` file with `header` as its dict text, given verbatim (no padding), then `data`.
func npyBytes(_ header: String, version: UInt8 = 1, data: [UInt8] = []) -> [UInt8] {
    let body = Array(header.utf8)
    var bytes: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, version, 0]
    if version == 1 {
        bytes += [UInt8(body.count & 0xFF), UInt8(body.count >> 8)]
    } else {
        bytes += withUnsafeBytes(of: UInt32(body.count).littleEndian) { Array($0) }
    }
    return bytes + body + data
}

/// A header dict with the given descr, fortran_order and shape texts.
func npyDict(descr: String = "'<f4'", fortran: String = "False", shape: String = "()") -> String {
    "{'descr': \(descr), 'fortran_order': \(fortran), 'shape': \(shape), }"
}

/// The `.npy` magic followed by `rest`.
func npyMagic(_ rest: [UInt8]) -> [UInt8] { [0x93] + Array("NUMPY".utf8) + rest }

/// Expects opening `bytes` as a `.npy` file to throw exactly `expected`.
func expectNPYError(_ expected: NPYError, _ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) {
    let directory = TemporaryDirectory()
    #expect(throws: expected, sourceLocation: sourceLocation) { try NPYFile(path: directory.write("x.npy", bytes)) }
}

/// A bytes provider serving each tensor from `data[name]`.
func provider(_ data: [String: [UInt8]]) -> TensorBytesProvider {
    { info, consume in try (data[info.name] ?? []).withUnsafeBytes { try consume($0) } }
}

/// Little-endian bytes of integers or floats.
func littleEndianBytes<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
    values.flatMap { value in withUnsafeBytes(of: value.littleEndian) { Array($0) } }
}

func littleEndianBytes(_ values: [Float]) -> [UInt8] { littleEndianBytes(values.map(\.bitPattern)) }
