/// Where the bytes of the uncompressed (STORED) members of a ZIP archive lie in the file, found
/// through the central directory (zip64 records included), so that they can be read in place.
///
/// For reading in place this is an optimisation beside libarchive: anything unexpected about one
/// member (encryption, a local header that disagrees with the directory) leaves the member out,
/// and the caller reads it through libarchive instead. A missing end record or a directory that
/// cannot be walked to its last entry is reported in ``defect``.
struct ZIPStoredMembers {
    struct Location: Equatable {
        /// The member's bytes in the file.
        var range: Range<Int>
        /// The CRC-32 the central directory records for them.
        var crc: UInt32
    }

    /// Stored members by name (UTF-8).
    private(set) var locations: [String: Location] = [:]
    /// Why the archive's end record or central directory cannot be read, or `nil` when both are
    /// complete; such an archive is refused (see ``NPZArchive``).
    private(set) var defect: String?

    init(_ bytes: UnsafeRawBufferPointer) {
        var reader = Reader(bytes: bytes)
        let directory: (entries: Int, offset: Int)
        switch reader.centralDirectory() {
        case .none:
            defect = "no end-of-central-directory record at the end of the file (a truncated archive?); np.load refuses it too"
            return
        case .some(nil):
            defect = "the end-of-central-directory record describes a central directory that is not there (a truncated or damaged archive); np.load refuses it too"
            return
        case .some(let found?):
            directory = found
        }
        var offset = directory.offset
        var ambiguous: Set<String> = []
        for index in 0..<directory.entries {
            guard let entry = reader.directoryEntry(at: offset) else {
                defect = "the central directory is truncated or damaged at entry \(index + 1) of \(directory.entries); np.load refuses it too"
                return
            }
            offset = entry.next
            guard let location = entry.location, let name = entry.name else { continue }
            if locations.updateValue(location, forKey: name) != nil { ambiguous.insert(name) }
        }
        for name in ambiguous { locations[name] = nil }
    }

    /// Bounds-checked little-endian reads.
    private struct Reader {
        let bytes: UnsafeRawBufferPointer

        func u16(_ offset: Int) -> Int? {
            guard offset >= 0, offset <= bytes.count - 2 else { return nil }
            return Int(UInt16(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
        }

        func u32(_ offset: Int) -> Int? {
            guard offset >= 0, offset <= bytes.count - 4 else { return nil }
            return Int(UInt32(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
        }

        func u64(_ offset: Int) -> Int? {
            guard offset >= 0, offset <= bytes.count - 8 else { return nil }
            return Int(exactly: UInt64(littleEndian: bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)))
        }

        /// The number of entries and the offset of the central directory, from the end-of-central-
        /// directory record (the last one whose comment reaches the end of the file) and, where it
        /// has one, its zip64 counterpart.
        /// `nil` without an end record; `.some(nil)` when the record's directory cannot be there.
        mutating func centralDirectory() -> (entries: Int, offset: Int)?? {
            let lowest = max(0, bytes.count - 22 - 0xFFFF)
            var end = bytes.count - 22
            while end >= lowest {
                if u32(end) == 0x0605_4B50, let commentLength = u16(end + 20), end + 22 + commentLength == bytes.count {
                    break
                }
                end -= 1
            }
            guard end >= lowest, var entries = u16(end + 10), var offset = u32(end + 16) else { return .none }
            if u32(end - 20) == 0x0706_4B50 {   // zip64 end-of-central-directory locator
                guard let record = u64(end - 20 + 8), record <= bytes.count, u32(record) == 0x0606_4B50,
                      let entries64 = u64(record + 32), let offset64 = u64(record + 48) else { return .some(nil) }
                entries = entries64
                offset = offset64
            }
            // Every entry takes at least 46 bytes: a count beyond that is a lie.
            guard offset <= bytes.count, entries <= (bytes.count - offset) / 46 else { return .some(nil) }
            return .some((entries, offset))
        }

        struct Entry {
            var next: Int
            var name: String?
            var location: Location?
        }

        /// The central-directory entry at `offset`, with a location when it is an unencrypted
        /// stored member whose local header agrees.
        func directoryEntry(at offset: Int) -> Entry? {
            guard u32(offset) == 0x0201_4B50, let flags = u16(offset + 8), let method = u16(offset + 10),
                  let crc = u32(offset + 16), var compressedSize = u32(offset + 20),
                  var size = u32(offset + 24), let nameLength = u16(offset + 28),
                  let extraLength = u16(offset + 30), let commentLength = u16(offset + 32),
                  var localOffset = u32(offset + 42) else { return nil }
            let nameStart = offset + 46, extraStart = nameStart + nameLength
            let next = extraStart + extraLength + commentLength
            guard next <= bytes.count else { return nil }
            let nameBytes = UnsafeRawBufferPointer(rebasing: bytes[nameStart..<extraStart])
            var entry = Entry(next: next, name: String(validating: nameBytes, as: UTF8.self))
            // zip64 extended information: only the fields whose 32-bit value is 0xFFFFFFFF, in order.
            var field = extraStart
            while field + 4 <= extraStart + extraLength {
                guard let id = u16(field), let length = u16(field + 2), field + 4 + length <= extraStart + extraLength
                else { return entry }
                if id == 0x0001 {
                    let fieldEnd = field + 4 + length
                    var value = field + 4
                    if size == 0xFFFF_FFFF {
                        guard value + 8 <= fieldEnd, let wide = u64(value) else { return entry }
                        size = wide
                        value += 8
                    }
                    if compressedSize == 0xFFFF_FFFF {
                        guard value + 8 <= fieldEnd, let wide = u64(value) else { return entry }
                        compressedSize = wide
                        value += 8
                    }
                    if localOffset == 0xFFFF_FFFF {
                        guard value + 8 <= fieldEnd, let wide = u64(value) else { return entry }
                        localOffset = wide
                    }
                }
                field += 4 + length
            }
            guard method == 0, flags & 1 == 0, compressedSize == size, localOffset <= bytes.count,
                  u32(localOffset) == 0x0403_4B50, let localNameLength = u16(localOffset + 26),
                  let localExtraLength = u16(localOffset + 28), localNameLength == nameLength
            else { return entry }
            let localName = localOffset + 30
            let dataStart = localName + localNameLength + localExtraLength
            guard dataStart <= bytes.count, size <= bytes.count - dataStart,
                  UnsafeRawBufferPointer(rebasing: bytes[localName..<(localName + nameLength)]).elementsEqual(nameBytes)
            else { return entry }
            entry.location = Location(range: dataStart..<(dataStart + size), crc: UInt32(crc))
            return entry
        }
    }
}
