/// A memory-mapped safetensors file: validated on open, tensors read zero-copy.
///
/// Guarantees:
/// - Opening maps the file and reads only the 8-byte length and the JSON header, so it takes the
///   same time whatever the size of the data.
/// - A file that opens is one the reference implementation (`safetensors` 0.8) also accepts, and
///   every file it refuses is refused here with the same kind of defect (see ``SafeTensorsError``;
///   a test checks a corpus against the Python package). Deliberate differences: names and
///   metadata keys containing U+0000 are refused, and so is an empty tensor with a dimension
///   above `Int.max` or non-zero dimensions that multiply past it. When a header has several defects, the one named may differ.
/// - Tensor bytes are views into the mapping: no copy, no conversion.
public final class SafeTensorsFile: CheckpointReader, @unchecked Sendable {
    /// The reference implementation's header size limit, in bytes.
    public static let maximumHeaderSize = 100_000_000

    public let path: String
    public var format: WeightFormat { .safetensors }
    /// The header's `__metadata__`, verbatim (empty when absent or `null`).
    public let metadata: [String: String]
    /// Tensors in data-offset order (ties, i.e. empty tensors at the same offset, in header order).
    public let tensors: [TensorInfo]
    /// The header length N, padding included; the data buffer starts at byte 8 + N.
    public let headerSize: Int
    private let file: MappedFile
    private let ranges: [String: Range<Int>]

    /// Maps and validates the file at `path`.
    /// - Throws: ``FileAccessError`` when it cannot be opened, ``SafeTensorsError`` when it is not a
    ///   valid safetensors file.
    public convenience init(path: String) throws {
        try self.init(file: MappedFile(path: path))
    }

    /// Validates an already mapped file (a shard opened inside its index's folder).
    init(file: MappedFile) throws {
        path = file.path
        self.file = file
        let header = try Self.parse(file.bytes)
        metadata = header.metadata
        tensors = header.tensors.map(\.info)
        headerSize = header.headerSize
        var ranges: [String: Range<Int>] = [:]
        for entry in header.tensors { ranges[entry.info.name] = entry.range }
        self.ranges = ranges
    }

    /// The file offset of the data buffer (8 + ``headerSize``).
    public var dataStart: Int { 8 + headerSize }

    /// The `data_offsets` of a tensor: its byte range relative to the start of the data buffer.
    public func dataOffsets(of name: String) -> Range<Int>? { ranges[name] }

    public func releasePages(_ view: UnsafeRawBufferPointer) { file.release(view: view) }

    /// Calls `body` with the tensor's bytes, a view into the mapping (valid only during the call).
    /// Afterwards the pages are released from memory (they fault back in from the file if needed).
    public func withBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard let range = ranges[name] else { throw CheckpointError.tensorNotFound(name: name) }
        let fileRange = (dataStart + range.lowerBound)..<(dataStart + range.upperBound)
        defer { file.release(fileRange) }
        return try body(UnsafeRawBufferPointer(rebasing: file.bytes[fileRange]))
    }
}
