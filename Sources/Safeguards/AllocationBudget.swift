#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// The most memory one tensor, or all the values of one graph pass, may take: sizes that come
/// from a file or a graph (a ConstantOfShape target, padding, a broadcast, a decompressed
/// archive member) are checked against it before anything is allocated, and an operation that
/// would need more fails with a message naming the node or tensor instead of exhausting memory.
///
/// The default, ``defaultLimit``, is generous: the smallest of 16 GiB, the physical memory and
/// the process's address-space and data-segment limits (`RLIMIT_AS`, `RLIMIT_DATA`) when set.
/// The command line changes it with `--max-memory`.
public enum AllocationBudget {
    private static let storage = Atomic<Int>(defaultLimit)

    /// The limit in bytes (process-wide; safe to read and set from any thread).
    public static var limit: Int {
        get { storage.load(ordering: .relaxed) }
        set { storage.store(max(0, newValue), ordering: .relaxed) }
    }

    /// `min(16 GiB, physical memory, RLIMIT_AS, RLIMIT_DATA)`.
    public static let defaultLimit: Int = {
        var limit = 16 << 30
        let pages = sysconf(Int32(_SC_PHYS_PAGES)), pageSize = sysconf(Int32(_SC_PAGESIZE))
        if pages > 0, pageSize > 0, let physical = Checked.multiply(pages, pageSize) { limit = min(limit, physical) }
        #if os(Linux)
        let resources = [Int32(RLIMIT_AS.rawValue), Int32(RLIMIT_DATA.rawValue)]
        #else
        let resources = [RLIMIT_AS, RLIMIT_DATA]
        #endif
        for resource in resources {
            var value = rlimit()
            #if os(Linux)
            let status = getrlimit(__rlimit_resource_t(UInt32(resource)), &value)
            #else
            let status = getrlimit(resource, &value)
            #endif
            if status == 0, value.rlim_cur != rlim_t.max, let current = Int(exactly: value.rlim_cur) {
                limit = min(limit, current)
            }
        }
        return limit
    }()

    /// Whether `bytes` (`nil`: a size that overflowed) fits in ``limit``.
    public static func allows(_ bytes: Int?) -> Bool {
        guard let bytes, bytes >= 0 else { return false }
        return bytes <= limit
    }

    /// A byte count for messages: `512 B`, `3.0 KiB`, `16.0 GiB`, …
    public static func describe(_ bytes: Int) -> String {
        let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
        var value = Double(bytes), unit = 0
        while value >= 1024, unit < units.count - 1 {
            value /= 1024
            unit += 1
        }
        if unit == 0 { return "\(bytes) B" }
        let tenths = (value * 10).rounded() / 10
        return "\(tenths) \(units[unit])"
    }

    /// The message tail for a size over the limit: "needs 4.0 TiB, more than the 16.0 GiB
    /// memory limit (--max-memory)"; an overflowed size reads "needs more than 8.0 EiB".
    public static func exceeded(_ bytes: Int?) -> String {
        let needed = bytes.map { "needs \(describe($0))" } ?? "needs more than \(describe(Int.max))"
        return "\(needed), more than the \(describe(limit)) memory limit (--max-memory)"
    }
}
