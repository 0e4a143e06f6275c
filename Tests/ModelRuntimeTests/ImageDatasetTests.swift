import Foundation
import ImageData
import ModelRuntime
import Testing
import WeightFormats
import _TestSupport

@Suite("Data sets of images")
struct ImageDatasetTests {
    /// Decoding an 8-bit gray PNG and ToTensor are exact: every sample is byte / 255 in Float,
    /// and the bytes are round(255 x) of the npz's x.
    @Test("the digits image folder gives the npz's samples rounded to bytes, exactly")
    func digits() throws {
        let images = try Dataset.load(Fixtures.path("Samples/digits-test-images"), images: ImageLoading(preprocessing: Preprocessing(channels: 1)))
        let arrays = try Dataset.load(Fixtures.path("Samples/digits-test.npz"))
        #expect(images.count == 540 && images.sampleShape == [1, 8, 8] && images.isFileBacked)
        // The folder lists class by class, in npz order within a class (file names are npz indices).
        let order = (0..<540).sorted { (arrays.labels![$0], $0) < (arrays.labels![$1], $1) }
        #expect(images.labels == order.map { arrays.labels![$0] })
        let x = try images.samples(Array(0..<540)).data
        let reference = try arrays.samples(order).data
        #expect(x == reference.map { Float(($0 * 255).rounded()) / 255 })
        let diff = zip(x, reference).map { abs($0 - $1) }.max() ?? 1
        #expect(diff <= 0.5 / 255 + 1e-7)
    }

    @Test("image errors are file errors naming the image")
    func errors() throws {
        let directory = TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory.path("c"), withIntermediateDirectories: true)
        directory.write("c/x.png", [])
        #expect {
            try Dataset.load(directory.path, images: ImageLoading(preprocessing: Preprocessing(channels: 1)))
        } throws: { error in
            (error as? WeightFileError)?.description == "\(directory.path("c/x.png")): empty file (0 bytes)"
        }
    }
}
