import Testing
import ModelRuntime
import WeightFormats
import TensorCore
@testable import Unlearning
import _TestSupport

@Suite("statistics-only PGU: retain damage guard")
struct PGURetainDamageTests {
    /// The MLP sample's first layer reads the flattened pixels, so its retain inputs X are the
    /// samples themselves: the Gram estimate must equal ‖ΔW X‖²_F / ‖W X‖²_F computed from X
    /// (pixels blank in every sample included, which the estimate leaves out of its arithmetic).
    @Test("damage from the retain Gram equals ‖ΔW X‖² / ‖W X‖² from the inputs themselves (1e-9 relative)")
    func damageMatchesDirectComputation() throws {
        let data = try Dataset.load(Fixtures.path("Samples/digits-train.npz"))
        let model = try Model.load(Fixtures.path("Samples/mlp.onnx"), sampleShape: data.sampleShape)
        let indices = Array(0..<200)
        let grams = try ActivationStatistics.collect(model, data: data, indices: indices, batchSize: 64, sampling: .all)
        let layers = model.graph.weightLayers
        let original = model.graph.parameters
        let name = layers[0].weight
        let w = try #require(original[name])
        #expect(w.shape == [128, 64] && layers[0].layout == .outputsByInputs)
        // Some pixels are blank in every digit: the estimate works on the others (zero Gram rows).
        let first = try #require(grams[GramKey(layer: 0, group: 0)])
        #expect((0..<64).contains { first.gram[$0 * 64 + $0] == 0 })
        var rng = SeededGenerator(seed: 11)
        var changed = w
        for i in 0..<changed.count { changed.data[i] += Float.random(in: -0.01...0.01, using: &rng) }
        let guardian = RetainDamage(grams: grams, layers: layers, original: original)
        let measured = guardian.perLayer(current: [name: changed], original: original)
        #expect(measured.map(\.weight) == [name])
        let damage = try #require(measured.first).damage
        let x = try data.samples(indices)
        var deltaEnergy = 0.0, energy = 0.0
        for s in 0..<indices.count {
            for o in 0..<128 {
                var dy = 0.0, y = 0.0
                for i in 0..<64 {
                    let xi = Double(x.data[s * 64 + i])
                    dy += (Double(changed.data[o * 64 + i]) - Double(w.data[o * 64 + i])) * xi
                    y += Double(w.data[o * 64 + i]) * xi
                }
                deltaEnergy += dy * dy
                energy += y * y
            }
        }
        #expect(abs(damage - deltaEnergy / energy) <= 1e-9 * (deltaEnergy / energy))
        // Unchanged weights: no damage.
        #expect(guardian.perLayer(current: original, original: original).allSatisfy { $0.damage == 0 })
    }

    /// The sample MLP with forget samples of class 3 only and statistics of every class.
    static func statisticsOnly() throws -> (Model, Dataset, StatisticsFile) {
        try statisticsOnlyFixture("Samples/mlp.onnx", classes: [3])
    }

    @Test("no retained-class samples: every epoch carries its damage, the kept one is within the limit, the result names the limit")
    func guardedRun() throws {
        let (model, data, statistics) = try Self.statisticsOnly()
        var configuration = PGUUnlearning.Configuration(forgetClasses: [3])
        configuration.settings.lrStart = 0.3
        configuration.settings.lrEnd = 0.06
        configuration.settings.gamma = 0.8
        configuration.settings.epochs = 15
        let result = try PGUUnlearning.run(model, data: data, statistics: statistics, configuration: configuration, clock: { 0 })
        #expect(result.retainDamageLimit == configuration.settings.maxRetainDamage)
        #expect(result.epochs.dropFirst().allSatisfy { $0.retainDamage != nil && $0.retainAccuracy == nil })
        let kept = try #require(result.epochs.first { $0.epoch == result.bestEpoch })
        #expect(try #require(kept.retainDamage) <= configuration.settings.maxRetainDamage)
        // Every layer's report carries its estimate at the kept weights; the largest is the kept epoch's figure.
        let estimates = result.layers.compactMap(\.estimatedRetainDamage)
        #expect(estimates.count == result.layers.count && estimates.allSatisfy { $0 >= 0 && $0 <= configuration.settings.maxRetainDamage })
        let largest = try #require(estimates.max())
        #expect(abs(largest - kept.retainDamage!) <= 1e-12 * max(largest, 1e-12))
        #expect(result.layers.first?.estimatedRetainDamage == 0, "the input layer stays unedited")
    }

    @Test("a damage limit the first epoch already exceeds: no epoch is kept, the error says retain accuracy was not measured")
    func limitExceededAtOnce() throws {
        let (model, data, statistics) = try Self.statisticsOnly()
        var configuration = PGUUnlearning.Configuration(forgetClasses: [3])
        configuration.settings.lrStart = 0.3
        configuration.settings.epochs = 3
        configuration.settings.maxRetainDamage = 1e-12
        #expect(throws: UnlearningError.noEpochWithinRetainDamage(limit: 1e-12)) {
            try PGUUnlearning.run(model, data: data, statistics: statistics, configuration: configuration, clock: { 0 })
        }
        #expect(UnlearningError.noEpochWithinRetainDamage(limit: 1e-12).description.contains("retain accuracy not measured"))
    }

    /// The sample CNN with forget samples of class 3 only and statistics of every class.
    static func statisticsOnlyCNN() throws -> (Model, Dataset, StatisticsFile) {
        try statisticsOnlyFixture("Samples/cnn.onnx", classes: [3])
    }

    @Test("default settings from statistics alone: the rate alone leaves the CNN unchanged; the ladder of rates forgets, layers past the damage limit frozen within it")
    func ladderAndFreezing() throws {
        let (model, data, statistics) = try Self.statisticsOnlyCNN()
        // Judged on the trained-on forget samples alone (the hold-out has its own test below).
        var trainedOn = PGUUnlearning.Configuration(forgetClasses: [3])
        trainedOn.settings.statisticsOnlyForgetHoldout = 0
        var alone = trainedOn
        alone.settings.learningRateFactors = [1]
        alone.settings.epochs = 30
        let plain = try PGUUnlearning.run(model, data: data, statistics: statistics, configuration: alone, clock: { 0 })
        #expect(plain.forgetAccuracy > plain.targetForgetAccuracy, "the reference rates must fail here for the ladder to be tested")
        #expect(plain.epochs.allSatisfy { $0.learningRate <= alone.settings.lrStart })

        let configuration = trainedOn
        let result = try PGUUnlearning.run(model, data: data, statistics: statistics, configuration: configuration, clock: { 0 })
        #expect(result.forgetAccuracy <= result.targetForgetAccuracy)
        #expect(result.epochs[1].learningRate > configuration.settings.lrStart, "kept run: a scaled rate")
        #expect(result.stopReason.hasPrefix("learning rates ×"))
        #expect(plain.learningRateFactorsTried == [1] && plain.learningRateFactor == 1)
        let factor = try #require(result.learningRateFactor)
        #expect(factor > 1 && result.learningRateFactorsTried?.first == 1 && result.learningRateFactorsTried?.last == factor)
        // Every layer of the kept weights is within the limit, and some layer reached it on the way.
        let guardian = RetainDamage(grams: statistics.summed(classes: Set(0..<10).subtracting([3])), layers: model.graph.weightLayers,
                                                  original: model.graph.parameters)
        var kept = model.graph.parameters
        for (name, weight) in result.editedWeights { kept[name] = weight }
        #expect(guardian.perLayer(current: kept, original: model.graph.parameters).allSatisfy { $0.damage <= configuration.settings.maxRetainDamage })
        #expect(result.epochs.contains { !($0.frozen ?? []).isEmpty })
    }

    /// The first epoch at or below the target, and the lowest forget accuracy of the run.
    static func firstWithinTarget(_ result: PGUUnlearning.Result) throws -> (epoch: Int, lowest: Double) {
        let first = try #require(result.epochs.first { $0.epoch > 0 && $0.forgetAccuracy <= result.targetForgetAccuracy })
        return (first.epoch, result.epochs.dropFirst().map(\.forgetAccuracy).min() ?? 1)
    }

    @Test("statistics alone: the input layer stays unedited; the run goes on past the target and keeps the latest of its lowest forget accuracy")
    func inputLayerAndPastTarget() throws {
        let (model, data, statistics) = try Self.statisticsOnlyCNN()
        let input = model.graph.weightLayers[0].weight
        let original = try #require(model.graph.parameters[input])
        var configuration = PGUUnlearning.Configuration(forgetClasses: [3])
        configuration.settings.statisticsOnlyForgetHoldout = 0
        let result = try PGUUnlearning.run(model, data: data, statistics: statistics, configuration: configuration, clock: { 0 })
        #expect(result.editedWeights[input]?.data == original.data, "the input layer is not edited")
        #expect(result.layers.contains { $0.weight != input && $0.changeNorm > 0 })
        let (first, lowest) = try Self.firstWithinTarget(result)
        #expect(result.forgetAccuracy == lowest && result.forgetAccuracy <= result.targetForgetAccuracy)
        #expect(result.epochs.last!.epoch >= first + PGUUnlearning.Settings.pastTargetPatience, "went on past the target")
        #expect(result.stopReason.contains("going on past the target"), "ended by the patience rule: \(result.stopReason)")
        #expect(!result.epochs.contains { $0.epoch > result.bestEpoch && $0.forgetAccuracy <= lowest }, "the latest of the lowest is kept")
        #expect(result.epochs.contains { $0.epoch > 0 && $0.epoch < result.bestEpoch && $0.forgetAccuracy == lowest }, "a tie was passed over")

        var paper = configuration
        paper.settings.statisticsOnlyFreezesInputLayer = false
        paper.settings.statisticsOnlyRunsPastTarget = false
        let plain = try PGUUnlearning.run(model, data: data, statistics: statistics, configuration: paper, clock: { 0 })
        #expect(plain.editedWeights[input]?.data != original.data, "turned off, the input layer moves")
        let plainFirst = try Self.firstWithinTarget(plain).epoch
        #expect(plain.bestEpoch == plainFirst && plain.epochs.last!.epoch == plainFirst, "turned off, the run stops at the target")
    }

    @Test("statistics alone: forgetting is the worse of the trained-on and held-out forget samples; reaching the target on the first alone is not forgetting",
          .tags(.slow))
    func forgetHoldOut() throws {
        let (model, data, statistics) = try Self.statisticsOnlyCNN()
        var configuration = PGUUnlearning.Configuration(forgetClasses: [3])
        configuration.settings.targetForgetAccuracy = 0.02   // apply's default, the contract's forget limit
        let result = try PGUUnlearning.run(model, data: data, statistics: statistics, configuration: configuration, clock: { 0 })
        let labels = try #require(data.labels)
        let (trained, heldOut) = result.selection.holdingOutForget(configuration.settings.statisticsOnlyForgetHoldout, labels: labels,
                                                                   seed: configuration.selection.seed)
        #expect(heldOut.count == Int((Double(result.selection.forget.count) * 0.2).rounded()) && trained.count + heldOut.count == result.selection.forget.count)
        func forgetAccuracy(_ indices: [Int]) throws -> Double {
            try ForgetRetainScores.accuracies(model, data: data, indices: indices, forget: [3], batchSize: configuration.selection.batchSize,
                                              parameters: result.editedWeights).forget
        }
        let onTrained = try forgetAccuracy(trained), onHeldOut = try forgetAccuracy(heldOut)
        #expect(result.forgetAccuracy == max(onTrained, onHeldOut))
        #expect(onTrained <= result.targetForgetAccuracy && onHeldOut > result.targetForgetAccuracy,
                "trained-on \(onTrained), held-out \(onHeldOut): the held-out samples must be what fails the target")
        #expect(result.forgetAccuracy > result.targetForgetAccuracy, "not counted as forgotten")
    }
}


@Suite("retain damage from an SVD projection's spaces")
struct ProjectionRetainDamageTests {
    /// MobileNetV2's depthwise convolutions have one Gram per channel group; the projection holds
    /// each trace-normalised, so the guard must weigh the groups back by their traces.
    @Test("on grouped (depthwise) convolutions the damage from the projection's spaces equals the damage from the Grams (1e-9 relative)")
    func groupedLayersKeepTheirGroupWeights() throws {
        let folder = Fixtures.path("Tests/Fixtures/RealModels/torchvision-mobilenet-v2")
        let model = try Model.load(folder + "/model.onnx")
        let reference = try Checkpoint.open(folder + "/expected.npz")
        let x = try TensorLoading.floatTensor(reference, try #require(reference.info(named: "x")))
        let data = Dataset(x: x, labels: nil)
        let grams = try ActivationStatistics.collect(model, data: data, indices: Array(0..<x.shape[0]), batchSize: 8, sampling: .all)
        let layers = model.graph.weightLayers, original = model.graph.parameters
        let grouped = try #require(layers.firstIndex { $0.groups > 1 })
        var rng = SeededGenerator(seed: 5)
        var changed = try #require(original[layers[grouped].weight])
        for i in 0..<changed.count { changed.data[i] += Float.random(in: -0.05...0.05, using: &rng) }
        let edits = [layers[grouped].weight: changed]
        let fromGrams = RetainDamage(grams: grams, layers: layers, original: original).perLayer(current: edits, original: original)
        let spaces = SVDProjection(retainGrams: grams, forgetGrams: [:]).retain
        let fromSpaces = RetainDamage(retain: spaces, layers: layers, original: original).perLayer(current: edits, original: original)
        let expected = try #require(fromGrams.first { $0.layer == grouped }).damage
        let found = try #require(fromSpaces.first { $0.layer == grouped }).damage
        #expect(expected > 0 && abs(found - expected) <= 1e-9 * expected, "grams \(expected), spaces \(found)")
    }
}
