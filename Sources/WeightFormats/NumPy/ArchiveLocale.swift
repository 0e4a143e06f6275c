#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs libarchive calls with this thread's character type set to UTF-8.
///
/// libarchive converts ZIP member names between UTF-8 and the current locale's charset; in the
/// default "C" locale of a Swift program a name such as `poids_é.npy` cannot be converted and
/// comes back empty (ZIP and tar alike: npz archives here, WebDataset shards in ImageData). Only the calling thread's locale changes, and only for `body`.
package enum ArchiveLocale {
    package static func utf8<R>(_ body: () throws -> R) rethrows -> R {
        guard let locale = newlocale(LC_CTYPE_MASK, "C.UTF-8", nil) else { return try body() }
        let previous = uselocale(locale)
        defer {
            uselocale(previous)
            freelocale(locale)
        }
        return try body()
    }
}
