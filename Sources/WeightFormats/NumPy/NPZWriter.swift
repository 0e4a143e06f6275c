import CArchive

/// Writes `.npz` archives with libarchive, one member at a time.
public enum NPZWriter {
    /// Writes `tensors` as members `NAME.npy` (NPY headers as `np.save` writes them), asking
    /// `bytes` for each tensor in order and streaming it into the archive (the archive is never
    /// held in memory); nothing appears at `path` unless the whole archive was written. Member
    /// times are fixed (1980-01-01), so the same tensors give the same bytes.
    /// - Throws: ``NPZError/duplicateKey(_:)`` for two tensors of one name,
    ///   ``NPZError/unsafeMemberName(_:)`` for a name that is absolute or has a `..` component
    ///   (it would extract outside the folder), ``NPYError`` for a
    ///   dtype NumPy cannot hold, ``NPZError/cannotWrite(reason:)`` for libarchive failures.
    public static func write(to path: String, tensors: [TensorInfo], compression: NPZCompression,
                             bytes: TensorBytesProvider) throws {
        try ArchiveLocale.utf8 { try streamArchive(to: path, tensors: tensors, compression: compression, bytes: bytes) }
    }

    private static func streamArchive(to path: String, tensors: [TensorInfo], compression: NPZCompression,
                                      bytes: TensorBytesProvider) throws {
        var names: Set<String> = []
        for info in tensors where !names.insert(info.name).inserted { throw NPZError.duplicateKey(info.name) }
        for info in tensors where !PathContainment.isRelativeInside(info.name + ".npy") {
            throw NPZError.unsafeMemberName(info.name + ".npy")
        }
        let destination = try AtomicFileWriter(destination: path)
        guard let archive = archive_write_new() else { throw NPZError.cannotWrite(reason: "out of memory") }
        var open = false
        defer {
            if open { archive_write_close(archive) }
            archive_write_free(archive)
        }
        archive_write_set_format_zip(archive)
        let configured = compression == .stored
            ? archive_write_zip_set_compression_store(archive)
            : archive_write_zip_set_compression_deflate(archive)
        // Names are written as UTF-8 with the ZIP language-encoding flag, as Python's zipfile does.
        guard configured == ARCHIVE_OK, archive_write_set_options(archive, "zip:hdrcharset=UTF-8") == ARCHIVE_OK,
              archive_write_open_filename(archive, destination.temporaryPath) == ARCHIVE_OK else {
            throw NPZError.cannotWrite(reason: NPZArchive.message(archive))
        }
        open = true
        for info in tensors {
            let header = try NPYWriter.header(for: info)
            let size = info.byteCount ?? 0
            guard let entry = archive_entry_new() else { throw NPZError.cannotWrite(reason: "out of memory") }
            defer { archive_entry_free(entry) }
            archive_entry_set_pathname_utf8(entry, info.name + ".npy")
            archive_entry_set_filetype(entry, 0o100000)
            archive_entry_set_perm(entry, 0o644)
            archive_entry_set_mtime(entry, 315_532_800, 0)
            archive_entry_set_size(entry, Int64(header.count + size))
            guard archive_write_header(archive, entry) == ARCHIVE_OK else {
                throw NPZError.cannotWrite(reason: NPZArchive.message(archive))
            }
            try writeData(archive, header)
            var delivered = false
            try bytes(info) { raw in
                guard !delivered, raw.count == size else {
                    throw CheckpointError.byteCountMismatch(tensor: info.name, expected: size, actual: raw.count)
                }
                try writeData(archive, raw)
                delivered = true
            }
            guard delivered else { throw CheckpointError.byteCountMismatch(tensor: info.name, expected: size, actual: 0) }
        }
        open = false
        guard archive_write_close(archive) == ARCHIVE_OK else {
            throw NPZError.cannotWrite(reason: NPZArchive.message(archive))
        }
        try destination.commit()
    }

    private static func writeData(_ archive: OpaquePointer, _ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try writeData(archive, $0) }
    }

    private static func writeData(_ archive: OpaquePointer, _ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let chunk = min(bytes.count - offset, 1 << 24)
            let written = archive_write_data(archive, bytes.baseAddress! + offset, chunk)
            guard written > 0 else { throw NPZError.cannotWrite(reason: NPZArchive.message(archive)) }
            offset += written
        }
    }
}
