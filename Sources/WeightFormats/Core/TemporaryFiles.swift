#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// The temporary files of the ``AtomicFileWriter``s alive in this process, removed when the
/// process is stopped by a signal or exits without dropping them.
///
/// A writer removes its temporary file itself when it is dropped uncommitted; this table covers
/// what never reaches `deinit`:
/// - SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE and the fatal SIGABRT, SIGSEGV, SIGBUS, SIGILL,
///   SIGTRAP and SIGFPE: the handler unlinks every listed file, restores the signal's previous
///   disposition and raises it again, so the process ends as it would have (exit status, core
///   dump, a crash reporter installed before) — without its temporary files;
/// - `exit` while a writer is alive: an `atexit` handler does the same;
/// - SIGXFSZ (a file size limit, `ulimit -f`): set to be ignored when it is at its default, so
///   that the write that crosses the limit fails with `EFBIG` and the writer's ordinary error
///   path reports it and cleans up.
///
/// The table is a fixed array of atomic slots holding C strings that are never freed, so that
/// the handler reads it without locks or allocation (async-signal-safe: only `unlink`,
/// `sigaction` and `raise` are called).
enum TemporaryFiles {
    static let capacity = 1024
    /// Slot i holds the address of a NUL-terminated path, or 0.
    nonisolated(unsafe) private static let slots: UnsafeMutablePointer<Atomic<Int>> = {
        let slots = UnsafeMutablePointer<Atomic<Int>>.allocate(capacity: capacity)
        for index in 0..<capacity { (slots + index).initialize(to: Atomic(0)) }
        return slots
    }()

    static let handledSignals: [Int32] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE, SIGABRT, SIGSEGV, SIGBUS, SIGILL, SIGTRAP, SIGFPE]
    /// The dispositions before ours, by signal number (written once, before any handler runs).
    nonisolated(unsafe) private static let previous: UnsafeMutablePointer<sigaction> = {
        let table = UnsafeMutablePointer<sigaction>.allocate(capacity: 65)
        table.initialize(repeating: sigaction(), count: 65)
        return table
    }()

    /// Installs the handlers (once per process).
    static let installed: Void = {
        _ = slots
        _ = previous
        for signal in handledSignals {
            var action = sigaction()
            #if canImport(Glibc)
            action.__sigaction_handler.sa_handler = handleSignal
            #else
            action.__sigaction_u.__sa_handler = handleSignal
            #endif
            sigemptyset(&action.sa_mask)
            action.sa_flags = 0
            var old = sigaction()
            guard sigaction(signal, &action, &old) == 0 else { continue }
            previous[Int(signal)] = old
            // A disposition of "ignore" stays ignored.
            if isIgnored(old) { sigaction(signal, &old, nil) }
        }
        var current = sigaction()
        if sigaction(SIGXFSZ, nil, &current) == 0, isDefault(current) { signal(SIGXFSZ, SIG_IGN) }
        atexit { TemporaryFiles.removeAll() }
    }()

    /// Lists `path`; returns its slot, or `nil` when the table is full (the file is then only
    /// removed by its writer).
    static func add(_ path: String) -> Int? {
        _ = installed
        guard let copy = strdup(path) else { return nil }
        let address = Int(bitPattern: copy)
        for index in 0..<capacity where slots[index].compareExchange(expected: 0, desired: address, ordering: .sequentiallyConsistent).exchanged {
            return index
        }
        free(copy)
        return nil
    }

    /// Unlists the path in `slot` (its string is leaked on purpose: a handler may be reading it).
    static func remove(_ slot: Int) {
        slots[slot].store(0, ordering: .sequentiallyConsistent)
    }

    /// Unlinks every listed file.
    static func removeAll() {
        for index in 0..<capacity {
            let address = slots[index].load(ordering: .sequentiallyConsistent)
            if address != 0, let path = UnsafePointer<CChar>(bitPattern: address) { unlink(path) }
        }
    }

    private static func isIgnored(_ action: sigaction) -> Bool {
        #if canImport(Glibc)
        return unsafeBitCast(action.__sigaction_handler.sa_handler, to: Int.self) == 1   // SIG_IGN
        #else
        return unsafeBitCast(action.__sigaction_u.__sa_handler, to: Int.self) == 1
        #endif
    }

    private static func isDefault(_ action: sigaction) -> Bool {
        #if canImport(Glibc)
        return action.__sigaction_handler.sa_handler == nil || unsafeBitCast(action.__sigaction_handler.sa_handler, to: Int.self) == 0
        #else
        return unsafeBitCast(action.__sigaction_u.__sa_handler, to: Int.self) == 0
        #endif
    }

    /// Removes the temporary files, puts the previous disposition back and raises the signal again.
    private static let handleSignal: @convention(c) (Int32) -> Void = { signal in
        TemporaryFiles.removeAll()
        var old = TemporaryFiles.previous[Int(signal)]
        sigaction(signal, &old, nil)
        raise(signal)
    }
}
