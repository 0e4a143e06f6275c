import Foundation
import Testing
import WeightFormats
import _TestSupport

/// A ZIP whose central directory uses zip64 for everything it can (sizes, local-header offset,
/// entry count, directory offset), as writers do past 4 GiB, built by hand in a few hundred bytes.
@Suite(".npz zip64 records")
struct NPZZip64Tests {
    static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xFFFF_FFFF
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 != 0 ? 0xEDB8_8320 ^ (crc >> 1) : crc >> 1 }
        }
        return ~crc
    }

    static func le<T: FixedWidthInteger>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }

    /// One stored member `name` holding `member`, with zip64 fields everywhere.
    static func zip64Archive(name: String, member: [UInt8]) -> [UInt8] {
        let nameBytes = Array(name.utf8)
        let crc = crc32(member), size = UInt64(member.count)
        var bytes: [UInt8] = []
        // Local file header with a zip64 extra (uncompressed, compressed size).
        bytes += [0x50, 0x4B, 0x03, 0x04] + le(UInt16(45)) + le(UInt16(0)) + le(UInt16(0)) + le(UInt16(0)) + le(UInt16(0x21))
        bytes += le(crc) + le(UInt32.max) + le(UInt32.max) + le(UInt16(nameBytes.count)) + le(UInt16(20)) + nameBytes
        bytes += le(UInt16(1)) + le(UInt16(16)) + le(size) + le(size)
        bytes += member
        // Central directory entry: sizes and the local-header offset all in the zip64 extra.
        let directoryOffset = UInt64(bytes.count)
        bytes += [0x50, 0x4B, 0x01, 0x02] + le(UInt16(0x032D)) + le(UInt16(45)) + le(UInt16(0)) + le(UInt16(0))
        bytes += le(UInt16(0)) + le(UInt16(0x21)) + le(crc) + le(UInt32.max) + le(UInt32.max)
        bytes += le(UInt16(nameBytes.count)) + le(UInt16(28)) + le(UInt16(0)) + le(UInt16(0)) + le(UInt16(0))
        bytes += le(UInt32(0o100644) << 16) + le(UInt32.max) + nameBytes
        bytes += le(UInt16(1)) + le(UInt16(24)) + le(size) + le(size) + le(UInt64(0))
        let directorySize = UInt64(bytes.count) - directoryOffset
        // zip64 end of central directory record and locator, then the classic record saying "see zip64".
        let record = UInt64(bytes.count)
        bytes += [0x50, 0x4B, 0x06, 0x06] + le(UInt64(44)) + le(UInt16(45)) + le(UInt16(45)) + le(UInt32(0)) + le(UInt32(0))
        bytes += le(UInt64(1)) + le(UInt64(1)) + le(directorySize) + le(directoryOffset)
        bytes += [0x50, 0x4B, 0x06, 0x07] + le(UInt32(0)) + le(record) + le(UInt32(1))
        bytes += [0x50, 0x4B, 0x05, 0x06] + le(UInt16(0)) + le(UInt16(0)) + le(UInt16.max) + le(UInt16.max)
        bytes += le(UInt32.max) + le(UInt32.max) + le(UInt16(0))
        return bytes
    }

    @Test("zip64 sizes, offsets and end records are followed; the stored member is read in place", .tags(.interop), .requiresPython("numpy"))
    func zip64Directory() throws {
        let npy = try NPYWriter.header(for: TensorInfo(name: "w", dtype: .I32, shape: [3])) + littleEndianBytes([Int32(-1), 0, 7])
        let directory = TemporaryDirectory()
        let path = directory.write("z.npz", Self.zip64Archive(name: "w.npy", member: npy))
        // The hand-made archive is valid for Python's zipfile and NumPy too.
        let check = try ProcessRunner.python("import sys, numpy as np; print(np.load(sys.argv[1])['w'].tolist())", [path])
        #expect(check.stdout == "[-1, 0, 7]\n", "\(check.stderr)")
        let archive = try NPZArchive(path: path)
        #expect(archive.tensors == [TensorInfo(name: "w", dtype: .I32, shape: [3])])
        #expect(archive.readsInPlace("w"))
        #expect(try values(archive, "w", as: Int32.self) == [-1, 0, 7])
    }

    @Test("a local header that disagrees with the directory is read through libarchive instead")
    func disagreeingLocalHeader() throws {
        let npy = try NPYWriter.header(for: TensorInfo(name: "w", dtype: .U8, shape: [2])) + [4, 5]
        var bytes = Self.zip64Archive(name: "w.npy", member: npy)
        bytes[30] = UInt8(ascii: "v")   // the local header now names "v.npy"
        let directory = TemporaryDirectory()
        do {
            let archive = try NPZArchive(path: directory.write("z.npz", bytes))
            #expect(!archive.readsInPlace(archive.tensors.first?.name ?? ""))
        } catch {
            #expect(error is NPZError, "\(error)")
        }
    }
}
