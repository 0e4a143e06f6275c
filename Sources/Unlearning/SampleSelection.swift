import TensorCore

/// Which samples of a labelled data set serve as retain, forget and validation samples.
public struct SampleSelection: Sendable, Equatable {
    public var retain: [Int]
    public var forget: [Int]
    /// Held out for choosing settings (never used for statistics or training).
    public var validation: [Int]

    /// What every engine is asked to forget and which samples it may use: the forget classes, how
    /// many retain and forget samples to take, the seed of every random choice, the patch cap of
    /// the statistics and the samples per forward pass. Shared by SVD projection, projected-gradient
    /// unlearning and forget vectors; each engine's own settings live beside it.
    public struct Configuration: Sendable, Equatable {
        public var forgetClasses: [Int]
        /// Retain samples in total, spread evenly over the retained classes.
        public var retainSamples = 900
        /// Forget samples in total, spread evenly over the forget classes.
        public var forgetSamples = 900
        /// Seed of sample selection, patch sampling and batch order.
        public var seed: UInt64 = 0
        /// At most this many input vectors (conv patches, tokens) per layer and set enter the
        /// statistics; 0 keeps all (``PatchSampling``).
        public var maxPatches = 10_000
        /// Samples per forward pass of statistics and accuracy passes.
        public var batchSize = 256

        public init(forgetClasses: [Int]) { self.forgetClasses = forgetClasses }

        /// The patch sampling rule of this configuration.
        public var patchSampling: PatchSampling { PatchSampling(maxPerLayer: maxPatches, seed: seed) }

        /// Writes the fields into `encoder`'s keyed container, as the audit record's flat
        /// `configuration` object has them: `classes`, `retain_samples`, `forget_samples`, `seed`,
        /// `max_patches`, and the samples per forward pass under `batchSizeKey`.
        func encodeFields(to encoder: any Encoder, batchSizeKey: String = "batch_size") throws {
            var c = encoder.container(keyedBy: FieldKey.self)
            try c.encode(forgetClasses, forKey: FieldKey("classes"))
            try c.encode(retainSamples, forKey: FieldKey("retain_samples"))
            try c.encode(forgetSamples, forKey: FieldKey("forget_samples"))
            try c.encode(seed, forKey: FieldKey("seed"))
            try c.encode(maxPatches, forKey: FieldKey("max_patches"))
            try c.encode(batchSize, forKey: FieldKey(batchSizeKey))
        }

        /// The selection for `labels`, holding out `validationFraction` of every class first.
        public func select(labels: [Int], validationFraction: Double = 0) -> SampleSelection {
            SampleSelection.make(labels: labels, forget: Set(forgetClasses), retainCount: retainSamples, forgetCount: forgetSamples,
                                 validationFraction: validationFraction, seed: seed)
        }
    }

    /// Picks up to `retainCount` samples spread evenly over the retained classes (every class
    /// present except the forget classes) and up to `forgetCount` spread over the forget classes,
    /// after holding out `validationFraction` of every class; seeded.
    public static func make(labels: [Int], forget: Set<Int>, retainCount: Int, forgetCount: Int,
                            validationFraction: Double, seed: UInt64) -> SampleSelection {
        var rng = SplitMix64(seed: seed)
        var byClass: [Int: [Int]] = [:]
        for (index, label) in labels.enumerated() { byClass[label, default: []].append(index) }
        var validation: [Int] = []
        var pool: [Int: [Int]] = [:]
        for label in byClass.keys.sorted() {
            let shuffled = byClass[label]!.shuffled(using: &rng)
            let held = heldOutCount(of: shuffled.count, fraction: validationFraction)
            validation += shuffled.prefix(held)
            pool[label] = Array(shuffled.dropFirst(held))
        }
        func spread(_ classes: [Int], total: Int) -> [Int] {
            guard !classes.isEmpty else { return [] }
            var picked: [Int] = []
            var quota = [Int](repeating: total / classes.count, count: classes.count)
            for i in 0..<(total % classes.count) { quota[i] += 1 }
            // Classes with fewer samples than their quota give the rest to the others.
            var spare = 0
            for (i, c) in classes.enumerated() where pool[c, default: []].count < quota[i] {
                spare += quota[i] - pool[c, default: []].count
                quota[i] = pool[c, default: []].count
            }
            for (i, c) in classes.enumerated() where spare > 0 {
                let extra = min(spare, pool[c, default: []].count - quota[i])
                quota[i] += extra
                spare -= extra
            }
            for (i, c) in classes.enumerated() { picked += pool[c, default: []].prefix(quota[i]) }
            return picked.sorted()
        }
        let classes = pool.keys.sorted()
        return SampleSelection(retain: spread(classes.filter { !forget.contains($0) }, total: retainCount),
                               forget: spread(classes.filter { forget.contains($0) }, total: forgetCount),
                               validation: validation.sorted())
    }

    /// How many of a class's `count` samples a hold-out of `fraction` takes: `fraction × count`
    /// rounded, at least one when `fraction > 0`, never all of them.
    static func heldOutCount(of count: Int, fraction: Double) -> Int {
        fraction > 0 ? min(max(1, Int((Double(count) * fraction).rounded())), count - 1) : 0
    }

    /// Samples per class among `indices`.
    public static func countsPerClass(_ indices: [Int], labels: [Int]) -> [String: Int] {
        var counts: [String: Int] = [:]
        for i in indices { counts[String(labels[i]), default: 0] += 1 }
        return counts
    }
}

/// A coding key spelled at run time.
struct FieldKey: CodingKey {
    let stringValue: String
    init(_ name: String) { stringValue = name }
    init?(stringValue: String) { self.stringValue = stringValue }
    var intValue: Int? { nil }
    init?(intValue: Int) { nil }
}

extension SampleSelection {
    /// This selection's forget samples split per class: `fraction` of every forget class's (at
    /// least one of a class with two or more, never all) are held out, seeded by `seed`; the
    /// others are kept. Engines train on the kept ones and judge forgetting on both parts.
    public func holdingOutForget(_ fraction: Double, labels: [Int], seed: UInt64) -> (kept: [Int], heldOut: [Int]) {
        guard fraction > 0 else { return (forget, []) }
        var rng = SplitMix64(seed: seed ^ 0x484F_4C44)
        var byClass: [Int: [Int]] = [:]
        for index in forget { byClass[labels[index], default: []].append(index) }
        var kept: [Int] = [], heldOut: [Int] = []
        for label in byClass.keys.sorted() {
            let shuffled = byClass[label]!.shuffled(using: &rng)
            let held = Self.heldOutCount(of: shuffled.count, fraction: fraction)
            heldOut += shuffled.prefix(held)
            kept += shuffled.dropFirst(held)
        }
        return (kept.sorted(), heldOut.sorted())
    }
}
