import Foundation
import Testing
import WeightFormats
import _TestSupport

/// Expects opening `bytes` as an `.npz` archive to throw exactly `expected`.
func expectNPZError(_ expected: NPZError, _ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation) {
    let directory = TemporaryDirectory()
    #expect(throws: expected, sourceLocation: sourceLocation) { try NPZArchive(path: directory.write("x.npz", bytes)) }
}

@Suite(".npz reader")
struct NPZReaderTests {
    @Test("stored (np.savez) and deflated (np.savez_compressed) archives, both zip64 as NumPy writes them", arguments: ["stored.npz", "deflated.npz"])
    func readsArchives(name: String) throws {
        let archive = try NPZArchive(path: numpyFixture(name))
        #expect(archive.tensors == [TensorInfo(name: "a", dtype: .F32, shape: [4]), TensorInfo(name: "b", dtype: .I64, shape: [2, 3])])
        #expect(try values(archive, "a", as: Float.self) == [0, 1, 2, 3])
        #expect(try values(archive, "b", as: Int64.self) == [0, 1, 2, 3, 4, 5])
        #expect(archive.readsInPlace("a") == (name == "stored.npz"))
        #expect(try Checkpoint.open(numpyFixture(name)).format == .npz)
        #expect(throws: CheckpointError.tensorNotFound(name: "c")) { try archive.bytes(of: "c") }
    }

    @Test("stored members are handed out from the mapped file, without a copy")
    func zeroCopy() throws {
        let archive = try NPZArchive(path: numpyFixture("stored.npz"))
        let first = try archive.withBytes(of: "b") { $0.baseAddress }
        let second = try archive.withBytes(of: "b") { $0.baseAddress }
        #expect(first != nil && first == second)
    }

    @Test("big-endian Fortran-order members are converted, stored or deflated", arguments: ["big_endian_fortran.npz", "deflated_big_endian_fortran.npz"])
    func bigEndianFortran(name: String) throws {
        let archive = try NPZArchive(path: numpyFixture(name))
        #expect(archive.tensors == [TensorInfo(name: "m", dtype: .I32, shape: [2, 3])])
        #expect(try values(archive, "m", as: Int32.self) == [0, 1, 2, 3, 4, 5])
    }

    @Test("an empty archive has no tensors")
    func empty() throws {
        #expect(try NPZArchive(path: numpyFixture("empty.npz")).tensors.isEmpty)
    }

    @Test("member names are UTF-8")
    func unicodeKey() throws {
        let archive = try NPZArchive(path: numpyFixture("unicode_key.npz"))
        #expect(archive.tensors.map(\.name) == ["poids_\u{E9}"])
        #expect(try values(archive, "poids_\u{E9}", as: Float.self) == [0, 1])
    }

    @Test("files that are not zip archives")
    func notAZip() {
        let directory = TemporaryDirectory()
        for bytes in [Array("hello, this is not a zip archive".utf8), [], Array(fileContents(numpyFixture("f32_2x3.npy")))] {
            #expect {
                try NPZArchive(path: directory.write("x.npz", bytes))
            } throws: { error in
                guard case NPZError.notAZip(let reason) = error else { return false }
                return !reason.isEmpty
            }
        }
    }

    @Test("damage after the first member")
    func corrupt() {
        #expect {
            try NPZArchive(path: numpyFixture("damaged_second_member.npz"))
        } throws: { error in
            guard case NPZError.corrupt(let reason) = error else { return false }
            return !reason.isEmpty
        }
    }

    @Test("a member whose data does not match its CRC-32, stored (checked here) or deflated (checked by libarchive)",
          arguments: ["crc_mismatch_stored.npz", "crc_mismatch_deflated.npz"])
    func checksum(name: String) throws {
        // libarchive may reach the end of a deflated member, and check it, already while opening.
        #expect(throws: NPZError.checksumMismatch(member: "a.npy")) {
            _ = try NPZArchive(path: numpyFixture(name)).bytes(of: "a")
        }
        if name == "crc_mismatch_stored.npz" {
            let archive = try NPZArchive(path: numpyFixture(name))
            #expect(archive.readsInPlace("a"))
            #expect(throws: NPZError.checksumMismatch(member: "a.npy")) { try archive.bytes(of: "a") }
            // A failed check is not remembered as passed (a good member is checked once, then trusted).
            #expect(throws: NPZError.checksumMismatch(member: "a.npy")) { try archive.bytes(of: "a") }
            #expect(try values(archive, "b", as: Int64.self) == [0, 1, 2, 3, 4, 5])
            #expect(try values(archive, "b", as: Int64.self) == [0, 1, 2, 3, 4, 5])
        }
        // A small member is read to its end, and its CRC-32 checked, while opening.
        let directory = TemporaryDirectory()
        var small = fileContents(numpyFixture("deflated.npz"))
        let crc = try #require(crcOfFirstMember(small))
        for offset in [14, centralDirectoryOffset(small)! + 16] { small[offset] ^= 1 }
        #expect(crc != crcOfFirstMember(small))
        #expect(throws: NPZError.checksumMismatch(member: "a.npy")) { try NPZArchive(path: directory.write("s.npz", small)) }
    }

    @Test("a deflated member whose compressed stream is damaged")
    func unreadableMember() throws {
        // Python's zipfile writes each member as a local header followed directly by its data;
        // overwrite the middle of member b's deflate stream.
        var bytes = fileContents(numpyFixture("deflated.npz"))
        let second = try #require(findSignature(bytes, from: 4))
        let third = try #require(findSignature(bytes, from: second + 4, signature: [0x50, 0x4B, 0x01, 0x02]))
        for i in (second + 30 + 5 + 20 + 4)..<(third - 4) { bytes[i] = 0xFF }
        let directory = TemporaryDirectory()
        let path = directory.write("x.npz", bytes)
        #expect {
            // The .npy header of b is in the damaged stream: opening already fails.
            _ = try NPZArchive(path: path)
        } throws: { error in
            switch error as? NPZError {
            case .unreadableMember("b.npy", let reason): !reason.isEmpty
            case .checksumMismatch("b.npy"): true
            default: false
            }
        }
    }

    @Test("members that are not arrays, duplicates and pickles are refused by name")
    func refusedMembers() {
        #expect(throws: NPZError.notAnArray(member: "readme.txt")) { try NPZArchive(path: numpyFixture("not_npy_member.npz")) }
        #expect(throws: NPZError.duplicateKey("a")) { try NPZArchive(path: numpyFixture("duplicate_key.npz")) }
        #expect(throws: NPZError.objectMember("o.npy")) { try NPZArchive(path: numpyFixture("object_member.npz")) }
    }

    @Test("a member's .npy defects are reported with the member's name")
    func memberDefects() {
        #expect(throws: NPZError.member("t.npy", .truncatedData(expected: 24, actual: 20))) {
            try NPZArchive(path: numpyFixture("truncated_member.npz"))
        }
        #expect(throws: NPZError.member("h.npy", .unsupportedVersion(major: 7, minor: 0))) {
            try NPZArchive(path: numpyFixture("bad_header_member.npz"))
        }
    }

    @Test("messages are one line and name the member")
    func messages() {
        #expect(NPZError.member("t.npy", .truncatedData(expected: 24, actual: 20)).description
                == "member 't.npy': truncated data: the header needs 24 bytes, the file has 20")
        #expect(NPZError.objectMember("o.npy").description.contains("object arrays are pickles and are never loaded"))
        #expect(NPZError.checksumMismatch(member: "a.npy").description.contains("a.npy"))
        #expect(NPZError.notAnArray(member: "readme.txt").description.contains("readme.txt"))
    }

    @Test("mutated archives throw or open, never crash", arguments: ["stored.npz", "deflated.npz", "big_endian_fortran.npz"])
    func mutations(name: String) throws {
        let valid = fileContents(numpyFixture(name))
        let directory = TemporaryDirectory()
        var rng = SeededGenerator(seed: UInt64(name.utf8.count) &* 31)
        for trial in 0..<150 {
            var mutated = valid
            switch trial % 3 {
            case 0: mutated[Int.random(in: 0..<mutated.count, using: &rng)] ^= UInt8.random(in: 1...255, using: &rng)
            case 1: mutated.removeLast(Int.random(in: 1...mutated.count, using: &rng))
            default:
                for _ in 0..<4 { mutated[Int.random(in: 0..<mutated.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng) }
            }
            do {
                let archive = try NPZArchive(path: directory.write("d.npz", mutated))
                for info in archive.tensors {
                    let data = try archive.bytes(of: info.name)
                    #expect(data.count == info.byteCount)
                }
            } catch {
                #expect(error is NPZError, "\(error)")
            }
        }
    }
}

/// The offset of the next ZIP local-header (or other) signature at or after `from`.
func findSignature(_ bytes: [UInt8], from: Int, signature: [UInt8] = [0x50, 0x4B, 0x03, 0x04]) -> Int? {
    guard bytes.count >= 4 else { return nil }
    return (from...(bytes.count - 4)).first { Array(bytes[$0..<($0 + 4)]) == signature }
}

/// The CRC-32 field of the first local header.
func crcOfFirstMember(_ bytes: [UInt8]) -> UInt32? {
    guard bytes.count >= 18 else { return nil }
    return bytes[14..<18].reversed().reduce(0) { $0 << 8 | UInt32($1) }
}

/// The offset of the first central-directory entry.
func centralDirectoryOffset(_ bytes: [UInt8]) -> Int? {
    findSignature(bytes, from: 0, signature: [0x50, 0x4B, 0x01, 0x02])
}
