import Safeguards

/// What is wrong with one image file (or tar member); paired with its name in ``ImageFileError``.
public enum ImageError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The file has no bytes.
    case empty
    /// The bytes are none of JPEG, PNG, WebP; `name` is a recognised other format, if any.
    case unknownFormat(name: String?)
    /// The decoder found damaged data.
    case corrupt(ImageFormat, reason: String)
    /// The data ends before the image does.
    case truncated(ImageFormat)
    /// The header declares a width or height of zero.
    case zeroSize(ImageFormat)
    /// The header declares more pixels than allowed; checked before anything is allocated.
    case tooLarge(ImageFormat, width: Int, height: Int, limit: Int)
    /// A valid file of a kind not handled (16-bit grayscale, animation, 12-bit JPEG…).
    case unsupported(ImageFormat, reason: String)
    /// The file (or shard) could not be read.
    case unreadable(reason: String)
    /// After preprocessing the image does not have the size every sample must have.
    case sizeMismatch(expected: [Int], actual: [Int])

    public var description: String {
        switch self {
        case .empty:
            "empty file (0 bytes)"
        case .unknownFormat(let name?):
            "\(name) images are not supported; convert to PNG, JPEG or WebP"
        case .unknownFormat(nil):
            "not a JPEG, PNG or WebP image"
        case .corrupt(let format, let reason):
            "corrupt \(format): \(Escaping.printable(reason))"
        case .truncated(let format):
            "truncated \(format): the data ends in the middle of the image"
        case .zeroSize(let format):
            "\(format) header declares an empty image (width or height 0)"
        case .tooLarge(let format, let width, let height, let limit):
            "\(format) of \(width) × \(height) pixels is larger than the limit of \(limit) pixels (raise it with --max-image-pixels if the image is genuine)"
        case .unsupported(let format, let reason):
            "\(format): \(Escaping.printable(reason))"
        case .unreadable(let reason):
            "cannot read: \(Escaping.printable(reason))"
        case .sizeMismatch(let expected, let actual):
            "preprocessed to \(actual.map(String.init).joined(separator: "×")) but the first image gave \(expected.map(String.init).joined(separator: "×")); "
                + "give --crop or --image-size so that every sample has one size"
        }
    }
}

/// An image error with the file (or `shard.tar:member`) it is about; prints as `FILE: what is wrong`.
public struct ImageFileError: Error, CustomStringConvertible, Equatable, Sendable {
    public let path: String
    public let underlying: ImageError

    public init(path: String, underlying: ImageError) {
        self.path = path
        self.underlying = underlying
    }

    public var description: String { "\(Escaping.printable(path)): \(underlying)" }

    /// The path with control characters escaped, for messages.
    public var displayPath: String { Escaping.printable(path) }
}

/// A defect of a data source as a whole (folder, manifest, shard list), not of one image.
public struct ImageSourceError: Error, CustomStringConvertible, Equatable, Sendable {
    public let path: String
    public let reason: String

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
    }

    public var description: String { "\(Escaping.printable(path)): \(reason)" }

    /// The path with control characters escaped, for messages.
    public var displayPath: String { Escaping.printable(path) }
}
