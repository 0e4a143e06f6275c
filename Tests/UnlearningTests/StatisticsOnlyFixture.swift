import Testing
import ModelRuntime
@testable import Unlearning
import _TestSupport

/// A sample model with the forget classes' training samples alone and statistics of every class of
/// the training data: the statistics-only path (`stats collect`, then forget samples and `--stats`).
func statisticsOnlyFixture(_ model: String, classes: Set<Int>) throws -> (model: Model, forgetOnly: Dataset, statistics: StatisticsFile) {
    let data = try Dataset.load(Fixtures.path("Samples/digits-train.npz"))
    let loaded = try Model.load(Fixtures.path(model), sampleShape: data.sampleShape)
    let statistics = try StatisticsFile.collect(loaded, data: data, batchSize: 256, sampling: .all)
    let labels = try #require(data.labels)
    let forgetIndices = labels.indices.filter { classes.contains(labels[$0]) }
    return (loaded, Dataset(x: try data.samples(forgetIndices), labels: forgetIndices.map { labels[$0] }), statistics)
}
