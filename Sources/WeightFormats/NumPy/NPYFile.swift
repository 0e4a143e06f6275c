/// A memory-mapped NumPy `.npy` file holding one tensor, named after the file.
///
/// Little-endian C-order data is handed out zero-copy; big-endian or Fortran-order data is
/// converted into one buffer on access. See `Formats/numpy.md`.
public final class NPYFile: CheckpointReader, @unchecked Sendable {
    public let path: String
    public var format: WeightFormat { .npy }
    public var metadata: [String: String] { [:] }
    public let tensors: [TensorInfo]
    public let header: NPYHeader
    private let file: MappedFile
    private let dataOffset: Int

    public init(path: String) throws {
        self.path = path
        file = try MappedFile(path: path)
        let (header, offset) = try NPYHeader.parse(file.bytes)
        let info = TensorInfo(name: Self.tensorName(forPath: path), dtype: header.dtype, shape: header.shape)
        try Self.checkDataSize(info: info, available: file.bytes.count - offset)
        self.header = header
        dataOffset = offset
        tensors = [info]
    }

    /// The file's base name without `.npy`.
    public static func tensorName(forPath path: String) -> String {
        let base = path.split(separator: "/").last.map(String.init) ?? path
        return base.hasSuffix(".npy") ? String(base.dropLast(4)) : base
    }

    static func checkDataSize(info: TensorInfo, available: Int) throws(NPYError) {
        guard let needed = info.byteCount, info.hasBoundedShape else {
            throw .invalidShape(NPYHeader.pythonTuple(info.shape) + " holds more bytes than a file can")
        }
        if available < needed { throw .truncatedData(expected: needed, actual: available) }
        if available > needed { throw .extraBytes(count: available - needed) }
    }

    public func releasePages(_ view: UnsafeRawBufferPointer) { file.release(view: view) }

    public func withBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        guard name == tensors[0].name else { throw CheckpointError.tensorNotFound(name: name) }
        let data = UnsafeRawBufferPointer(rebasing: file.bytes[dataOffset...])
        defer { file.release(dataOffset..<file.bytes.count) }
        if let converted = NPYLayout.normalized(data, header: header) {
            return try converted.withUnsafeBytes(body)
        }
        return try body(data)
    }
}
