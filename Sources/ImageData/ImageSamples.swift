import Dispatch
import Foundation
import Synchronization

/// How an image source becomes samples: the pipeline, the decoder's limits, what to do with bad images.
public struct ImageLoading: Sendable {
    public var preprocessing: Preprocessing
    public var decoder: ImageDecoder
    /// Skip images that cannot be decoded (counted in ``ImageSamples/skipped``) instead of failing.
    public var skipBadImages: Bool
    /// The model's label names (index → name), for mapping class folder and manifest names.
    public var labelNames: [String]?
    /// Decoding threads (all cores by default).
    public var threads: Int

    public init(preprocessing: Preprocessing = Preprocessing(), decoder: ImageDecoder = ImageDecoder(), skipBadImages: Bool = false,
                labelNames: [String]? = nil, threads: Int = ProcessInfo.processInfo.activeProcessorCount) {
        self.preprocessing = preprocessing
        self.decoder = decoder
        self.skipBadImages = skipBadImages
        self.labelNames = labelNames
        self.threads = max(1, threads)
    }
}

/// The samples of an ``ImageCollection`` through a ``Preprocessing``, decoded on demand.
///
/// ``load(_:)`` decodes the requested images on all ``ImageLoading/threads`` and returns them as
/// one batch (`count × channels × height × width` floats): memory is the batch's, not the data
/// set's. Each image is written to its own slot, so the batch is the same whatever the thread
/// timing; the error reported is the first failing image's in request order.
///
/// With ``ImageLoading/skipBadImages`` every image is decoded once when the samples are made,
/// and those that fail are left out (``skipped``); otherwise a bad image fails the batch that
/// needs it, naming the file.
public final class ImageSamples: Sendable {
    public let collection: ImageCollection
    public let preprocessing: Preprocessing
    public let decoder: ImageDecoder
    /// The collection's samples in use (all but the skipped ones), in order.
    public let kept: [Int]
    /// The images left out, each with what is wrong.
    public let skipped: [ImageFileError]
    /// `[channels, height, width]` of every sample.
    public let sampleShape: [Int]
    let tables: [[Float]]
    let threads: Int

    /// - Parameter progress: `(done, total)` during the decoding pass of ``ImageLoading/skipBadImages``.
    /// - Throws: ``ImageFileError`` (the first image, or any with `skipBadImages` when its size
    ///   does not fit the others), ``ImageSourceError`` when nothing is left.
    public init(_ collection: ImageCollection, loading: ImageLoading, progress: ((Int, Int) -> Void)? = nil) throws {
        if let problem = loading.preprocessing.problem { throw ImageSourceError(path: collection.path, reason: problem) }
        self.collection = collection
        preprocessing = loading.preprocessing
        decoder = loading.decoder
        tables = preprocessing.valueTables()
        threads = loading.threads
        if loading.skipBadImages {
            let all = Array(collection.samples.indices)
            let results = Self.parallelMap(all.count, threads: threads, progress: progress) { [decoder, preprocessing] i in
                try Self.decode(collection, all[i], decoder: decoder, channels: preprocessing.channels)
            }
            var kept: [Int] = [], skipped: [ImageFileError] = []
            var shape = preprocessing.fixedSampleShape
            for (i, result) in results.enumerated() {
                switch result {
                case .success(let image):
                    let actual = preprocessing.sampleShape(width: image.width, height: image.height)
                    if shape == nil { shape = actual }
                    guard actual == shape else {
                        throw ImageFileError(path: collection.samples[i].name, underlying: .sizeMismatch(expected: shape!, actual: actual))
                    }
                    kept.append(i)
                case .failure(let error as ImageFileError):
                    skipped.append(error)
                case .failure(let error):
                    throw error
                }
            }
            guard let shape, !kept.isEmpty else {
                throw ImageSourceError(path: collection.path, reason: "none of the \(collection.count) images can be decoded (first: \(skipped.first?.description ?? "?"))")
            }
            self.kept = kept
            self.skipped = skipped
            sampleShape = shape
        } else {
            kept = Array(collection.samples.indices)
            skipped = []
            if let shape = preprocessing.fixedSampleShape {
                sampleShape = shape
            } else {
                let first = collection.samples[0].name
                let header: ImageHeader
                do {
                    let decoder = loading.decoder
                    header = try collection.bytes(of: 0).withUnsafeBytes { try decoder.header($0) }
                } catch let error as ImageError {
                    throw ImageFileError(path: first, underlying: error)
                }
                sampleShape = preprocessing.sampleShape(width: header.width, height: header.height)
            }
        }
    }

    public var count: Int { kept.count }

    /// The labels of the kept samples, or `nil` when the source has none.
    public var labels: [Int]? {
        guard let all = collection.labels else { return nil }
        return kept.map { all[$0] }
    }

    /// The file (or `shard:member`) of sample `index`.
    public func name(of index: Int) -> String { collection.samples[kept[index]].name }

    /// Samples `indices` (0 ..< ``count``), in that order: `indices.count × sampleShape` floats.
    /// - Throws: ``ImageFileError`` of the first image (in `indices` order) that fails.
    public func load(_ indices: [Int]) throws -> [Float] {
        let size = sampleShape.reduce(1, *)
        return try [Float](unsafeUninitializedCapacity: indices.count * size) { values, initialized in
            let target = UncheckedBuffer(values)
            let results = Self.parallelMap(indices.count, threads: threads, progress: nil) { [self] i in
                let sample = kept[indices[i]]
                let image = try Self.decode(collection, sample, decoder: decoder, channels: preprocessing.channels)
                let shape = preprocessing.sampleShape(width: image.width, height: image.height)
                guard shape == sampleShape else {
                    throw ImageFileError(path: collection.samples[sample].name, underlying: .sizeMismatch(expected: sampleShape, actual: shape))
                }
                let slot = UnsafeMutableBufferPointer(rebasing: target.buffer[(i * size)..<((i + 1) * size)])
                preprocessing.apply(image, tables: tables, into: slot)
            }
            for result in results { try result.get() }
            initialized = values.count
        }
    }

    /// Calls `body` with consecutive batches of at most `batchSize` samples, in order; only one
    /// batch is in memory at a time.
    public func forEachBatch(_ batchSize: Int, _ body: (_ indices: Range<Int>, _ values: [Float]) throws -> Void) throws {
        var start = 0
        while start < count {
            let range = start..<min(start + batchSize, count)
            try body(range, try load(Array(range)))
            start = range.upperBound
        }
    }

    static func decode(_ collection: ImageCollection, _ index: Int, decoder: ImageDecoder, channels: Int) throws -> PixelImage {
        do {
            let bytes = try collection.bytes(of: index)
            return try bytes.withUnsafeBytes { try decoder.decode($0, channels: channels) }
        } catch let error as ImageError {
            throw ImageFileError(path: collection.samples[index].name, underlying: error)
        }
    }

    /// `body(0) … body(count − 1)` on `threads` threads, taking indices in turn; results in index order.
    static func parallelMap<T>(_ count: Int, threads: Int, progress: ((Int, Int) -> Void)?,
                               _ body: @escaping @Sendable (Int) throws -> T) -> [Result<T, any Error>] {
        let results = ResultSlots<T>(count: count)
        let next = Atomic<Int>(0)
        let done = Atomic<Int>(0)
        let lock = NSLock()
        let report = UncheckedBox(progress)
        DispatchQueue.concurrentPerform(iterations: max(1, min(threads, count))) { _ in
            while true {
                let i = next.wrappingAdd(1, ordering: .relaxed).oldValue
                guard i < count else { break }
                results.set(i, Result { try body(i) })
                let finished = done.wrappingAdd(1, ordering: .relaxed).newValue
                if let progress = report.value, finished % 64 == 0 || finished == count { lock.withLock { progress(finished, count) } }
            }
        }
        return results.values()
    }
}

/// A value shared with worker threads that only use it under a lock.
private struct UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// A buffer written by several threads at disjoint places.
private struct UncheckedBuffer: @unchecked Sendable {
    let buffer: UnsafeMutableBufferPointer<Float>
    init(_ buffer: UnsafeMutableBufferPointer<Float>) { self.buffer = buffer }
}

/// One result slot per index, each written once by one thread.
private final class ResultSlots<T>: @unchecked Sendable {
    private let slots: UnsafeMutablePointer<Result<T, any Error>?>
    private let count: Int
    init(count: Int) {
        self.count = count
        slots = .allocate(capacity: count)
        slots.initialize(repeating: nil, count: count)
    }
    deinit {
        slots.deinitialize(count: count)
        slots.deallocate()
    }
    func set(_ index: Int, _ result: Result<T, any Error>) { slots[index] = result }
    func values() -> [Result<T, any Error>] { (0..<count).map { slots[$0]! } }
}
