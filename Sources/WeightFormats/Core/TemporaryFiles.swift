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
/// The table is a fixed set of slots, each a state word (0 free, 1 being filled, 2 listed) and a
/// 4 KiB path buffer in one anonymous mapping made once, so that the handler reads it without
/// locks or allocation (async-signal-safe: only `unlink`, `sigaction` and `raise` are called) and
/// nothing is ever freed while a handler might read it. A path that does not fit, or a writer
/// beyond the 256th alive at once, is not listed (it is still removed by its writer).
enum TemporaryFiles {
    static let capacity = 256
    static let slotSize = 4096
    /// Slot i's state.
    nonisolated(unsafe) private static let states: UnsafeMutablePointer<Atomic<Int>> = {
        let states = UnsafeMutablePointer<Atomic<Int>>.allocate(capacity: capacity)
        for index in 0..<capacity { (states + index).initialize(to: Atomic(0)) }
        return states
    }()
    /// Slot i's NUL-terminated path at `paths + i · slotSize`.
    nonisolated(unsafe) private static let paths: UnsafeMutablePointer<CChar>? = {
        let bytes = capacity * slotSize
        guard let mapping = mmap(nil, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0),
              mapping != MAP_FAILED else { return nil }
        return mapping.bindMemory(to: CChar.self, capacity: bytes)
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
        _ = states
        _ = paths
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

    /// Creates a temporary file from a `mkstemp`-style template (ending in `XXXXXX`, replaced by 6
    /// random letters and digits) and lists it **before** it exists: a signal delivered to any
    /// thread once the file is there finds it in the table. (Listing after `mkstemp`, with the
    /// signals blocked on the creating thread only, left a window in which a signal sent to the
    /// process was handled on another thread and the new file stayed behind.) A name that exists
    /// already (`EEXIST`) is unlisted and another drawn. Returns the descriptor (−1 with `errno`
    /// set on failure), the path and the slot.
    static func create(template: String) -> (descriptor: Int32, path: String, slot: Int?) {
        _ = installed
        precondition(template.hasSuffix("XXXXXX"), "a temporary file template ends in XXXXXX")
        let prefix = String(template.dropLast(6))
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789".utf8)
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<100 {
            let path = prefix + String(decoding: (0..<6).map { _ in alphabet.randomElement(using: &generator)! }, as: UTF8.self)
            let slot = add(path)
            let descriptor = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
            if descriptor >= 0 { return (descriptor, path, slot) }
            let error = errno
            if let slot { remove(slot) }
            guard error == EEXIST else {
                errno = error
                return (-1, path, nil)
            }
        }
        errno = EEXIST
        return (-1, String(template), nil)
    }

    /// Lists `path`; returns its slot, or `nil` when it cannot be listed.
    static func add(_ path: String) -> Int? {
        _ = installed
        guard let paths else { return nil }
        let utf8 = Array(path.utf8)
        guard utf8.count < slotSize, !utf8.contains(0) else { return nil }
        for index in 0..<capacity where states[index].compareExchange(expected: 0, desired: 1, ordering: .sequentiallyConsistent).exchanged {
            let buffer = paths + index * slotSize
            utf8.withUnsafeBufferPointer { source in
                for (offset, byte) in source.enumerated() { buffer[offset] = CChar(bitPattern: byte) }
            }
            buffer[utf8.count] = 0
            states[index].store(2, ordering: .sequentiallyConsistent)
            return index
        }
        return nil
    }

    /// Unlists the path in `slot`.
    static func remove(_ slot: Int) {
        states[slot].store(0, ordering: .sequentiallyConsistent)
    }

    /// Unlinks every listed file, then removes every listed folder (a ``ModelFolderWriter``'s
    /// staging folder, empty once its listed files are gone).
    static func removeAll() {
        guard let paths else { return }
        for index in 0..<capacity where states[index].load(ordering: .sequentiallyConsistent) == 2 {
            unlink(paths + index * slotSize)
        }
        for index in 0..<capacity where states[index].load(ordering: .sequentiallyConsistent) == 2 {
            rmdir(paths + index * slotSize)
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
