import Safeguards

/// A readable set of named tensors: one weight file (or a sharded set) of any supported format.
///
/// Readers parse headers only on open; tensor data is reached through ``withBytes(of:_:)``,
/// zero-copy where the file stores it as little-endian C-order bytes (memory-mapped), otherwise
/// through one converted or decompressed buffer of that single tensor.
public protocol CheckpointReader: AnyObject {
    /// The file that was opened (for a sharded set, its index file).
    var path: String { get }
    var format: WeightFormat { get }
    /// Free-form string metadata (safetensors `__metadata__`; ONNX model properties), kept verbatim.
    var metadata: [String: String] { get }
    /// Every tensor, in the order the file stores them.
    var tensors: [TensorInfo] { get }
    /// Calls `body` with the tensor's `byteCount` bytes: little-endian, C order, tightly packed.
    /// - Throws: ``CheckpointError/tensorNotFound(name:)`` or the format's own error for bad data.
    func withBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R
    /// Drops from memory the pages under `view`, part of a buffer that ``withBytes(of:_:)`` is
    /// handing out, when that buffer lies in one of the reader's file mappings; the bytes stay
    /// readable (they fault back in from the file). Lets a caller stream through one large tensor
    /// with bounded memory. Views of decoded copies are ignored, and readers that do not map
    /// ignore everything (the default).
    func releasePages(_ view: UnsafeRawBufferPointer)
}

extension CheckpointReader {
    public func releasePages(_ view: UnsafeRawBufferPointer) {}
}

extension CheckpointReader {
    /// ``withBytes(of:_:)`` for a caller that writes what it reads: an error of the reader itself
    /// (a CRC mismatch, truncated data) comes out as a ``WeightFileError`` naming this reader's
    /// file, while errors thrown by `body` (the writer's) pass through unchanged, so that a
    /// message never blames the output for a defect of the input.
    public func withInputBytes<R>(of name: String, _ body: (UnsafeRawBufferPointer) throws -> R) throws -> R {
        do {
            return try withBytes(of: name) { raw in
                do { return try body(raw) } catch { throw BodyError(error: error) }
            }
        } catch let error as BodyError {
            throw error.error
        } catch let error as WeightFileError {
            throw error
        } catch {
            throw WeightFileError(path: path, underlying: error)
        }
    }

    /// The tensor named `name`, or `nil`.
    public func info(named name: String) -> TensorInfo? {
        tensors.first { $0.name == name }
    }

    /// A copy of the tensor's bytes.
    public func bytes(of name: String) throws -> [UInt8] {
        try withBytes(of: name) { Array($0) }
    }
}

/// An error thrown by the body of ``CheckpointReader/withInputBytes(of:_:)``, carried past its
/// reader's error mapping.
private struct BodyError: Error { let error: any Error }

/// Supplies the bytes of one tensor to a writer: call `consume` exactly once with exactly
/// `info.byteCount` bytes (little-endian, C order).
public typealias TensorBytesProvider =
    (_ info: TensorInfo, _ consume: (UnsafeRawBufferPointer) throws -> Void) throws -> Void

/// Errors that do not belong to one format: recognising a file, finding a tensor.
public enum CheckpointError: Error, Equatable, Sendable, CustomStringConvertible {
    case unrecognizedFormat(reason: String)
    case extensionMismatch(extension: String, detected: WeightFormat)
    case tensorNotFound(name: String)
    case unsupportedOutputExtension(String)
    case byteCountMismatch(tensor: String, expected: Int, actual: Int)

    public var description: String {
        switch self {
        case .unrecognizedFormat(let reason):
            "not a safetensors, .npy, .npz or ONNX file (\(Escaping.printable(reason)))"
        case .extensionMismatch(let ext, let detected):
            "the name ends in .\(Escaping.printable(ext)) but the contents are \(detected.displayName); rename the file"
        case .tensorNotFound(let name):
            "no tensor named '\(Escaping.printable(name))'"
        case .unsupportedOutputExtension(let ext):
            "cannot write '.\(Escaping.printable(ext))' files; use .safetensors, .npz or .onnx"
        case .byteCountMismatch(let tensor, let expected, let actual):
            "tensor '\(Escaping.printable(tensor))' was given \(actual) bytes, but its dtype and shape need \(expected)"
        }
    }
}

/// An error from a named file: printed as `PATH: what is wrong`, the path escaped (a shard's
/// path comes from its index file) so that the message stays one line.
public struct WeightFileError: Error, CustomStringConvertible {
    public let path: String
    public let underlying: any Error

    public init(path: String, underlying: any Error) {
        self.path = path
        self.underlying = underlying
    }

    public var description: String { "\(Escaping.printable(path)): \(Escaping.printable(String(describing: underlying)))" }
}

extension WeightFormat {
    /// How messages name the format.
    public var displayName: String {
        switch self {
        case .safetensors: "a safetensors file"
        case .shardedSafetensors: "a sharded safetensors index"
        case .npy: "a NumPy .npy array"
        case .npz: "a NumPy .npz archive"
        case .onnx: "an ONNX model"
        }
    }
}
