import Foundation

/// Process-wide allocator settings, for the tool's executables to call at start-up.
package enum Allocator {
    /// The largest block that malloc hands back for reuse after ``keepFreedMemory()`` (16 MiB);
    /// larger ones are mapped fresh, and their pages faulted in and zeroed, on every allocation.
    /// Batch sizes and work buffers are chosen to stay below it.
    public static let reusedBlockBytes = 16 << 20

    /// Lets glibc's malloc reuse freed blocks of up to 16 MiB instead of returning them to the
    /// system, and keep up to 64 MiB free at the top of the heap: a forward or backward pass allocates
    /// and frees tensors of the same few sizes in every batch, and with the default dynamic thresholds
    /// batches kept faulting in fresh zeroed pages (PGU on the ResNet sample 0.72 → 0.66 s, on the ViT
    /// 0.71 → 0.51 s; a 16 MiB trim threshold loses the ViT's gain). Streaming commands keep their
    /// footprint: `diff` of two 1 GiB files peaks at 330 MiB (322 MiB with glibc's defaults, 408 MiB
    /// with 64/128 MiB). Skipped when `GLIBC_TUNABLES` is set.
    public static func keepFreedMemory() {
        #if os(Linux)
        // A user who tunes malloc through the environment keeps their settings.
        guard ProcessInfo.processInfo.environment["GLIBC_TUNABLES"] == nil else { return }
        // mallopt is declared in <malloc.h>, which the Glibc module does not import.
        guard let process = dlopen(nil, RTLD_NOW), let symbol = dlsym(process, "mallopt") else { return }
        let mallopt = unsafeBitCast(symbol, to: (@convention(c) (Int32, Int32) -> Int32).self)
        let trimThreshold: Int32 = -1, mmapThreshold: Int32 = -3   // M_TRIM_THRESHOLD, M_MMAP_THRESHOLD
        _ = mallopt(mmapThreshold, Int32(reusedBlockBytes))
        _ = mallopt(trimThreshold, 64 << 20)
        #endif
    }
}
