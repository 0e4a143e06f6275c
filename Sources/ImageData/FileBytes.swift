#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Whole files and byte ranges of files, read with POSIX calls (no mapping: images are small and
/// read once per use, by many threads at a time).
enum FileBytes {
    /// The largest file read as one image (1 GiB).
    static let maxFileSize = 1 << 30

    /// A descriptor of the regular file `path` and its size. The file is opened non-blocking, so
    /// that a FIFO or a device named as an image, manifest or shard is refused instead of
    /// blocking the run for ever; the caller closes the descriptor.
    static func openRegular(_ path: String) throws(ImageError) -> (descriptor: Int32, size: Int) {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)
        guard fd >= 0 else { throw .unreadable(reason: String(cString: strerror(errno))) }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw .unreadable(reason: reason)
        }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            close(fd)
            throw .unreadable(reason: "not a regular file")
        }
        return (fd, Int(info.st_size))
    }

    /// The bytes of `path`.
    static func read(_ path: String) throws(ImageError) -> [UInt8] {
        let (fd, size) = try openRegular(path)
        defer { close(fd) }
        guard size <= maxFileSize else { throw .unreadable(reason: "larger than 1 GiB") }
        return try read(fd, offset: 0, count: size)
    }

    /// `count` bytes of `path` from `offset`.
    static func read(_ path: String, offset: Int, count: Int) throws(ImageError) -> [UInt8] {
        let (fd, _) = try openRegular(path)
        defer { close(fd) }
        return try read(fd, offset: offset, count: count)
    }

    private static func read(_ fd: Int32, offset: Int, count: Int) throws(ImageError) -> [UInt8] {
        var failure: ImageError?
        let bytes = [UInt8](unsafeUninitializedCapacity: count) { buffer, initialized in
            var done = 0
            while done < count {
                let n = pread(fd, buffer.baseAddress! + done, count - done, off_t(offset + done))
                if n < 0 {
                    if errno == EINTR { continue }
                    failure = .unreadable(reason: String(cString: strerror(errno)))
                    break
                }
                if n == 0 {
                    failure = .unreadable(reason: "the file ends \(count - done) bytes early (changed while reading?)")
                    break
                }
                done += n
            }
            initialized = failure == nil ? count : 0
        }
        if let failure { throw failure }
        return bytes
    }
}

extension ImageDecoder {
    /// The header of the image file at `path`.
    /// - Throws: ``ImageError``.
    public func header(file path: String) throws -> ImageHeader {
        let bytes = try FileBytes.read(path)
        return try bytes.withUnsafeBytes { try header($0) }
    }

    /// The image file at `path` as `channels` channels.
    /// - Throws: ``ImageError``.
    public func decode(file path: String, channels: Int) throws -> PixelImage {
        let bytes = try FileBytes.read(path)
        return try bytes.withUnsafeBytes { try decode($0, channels: channels) }
    }
}
