import Foundation
import ImageData
import Testing
import _TestSupport

@Suite("Batches of image samples")
struct ImageSamplesTests {
    /// A folder with classes `a` (two good images and three bad ones) and `b` (one good image).
    static func folderWithBadImages() throws -> TemporaryDirectory {
        let dir = TemporaryDirectory()
        let fm = FileManager.default
        for name in ["a", "b"] { try fm.createDirectory(atPath: dir.path(name), withIntermediateDirectories: true) }
        try fm.copyItem(atPath: ImageFixtures.path("images/rgb.png"), toPath: dir.path("a/1.png"))
        try fm.copyItem(atPath: ImageFixtures.path("hostile/truncated_rgb420.jpg"), toPath: dir.path("a/2.jpg"))
        try fm.copyItem(atPath: ImageFixtures.path("images/lossy.webp"), toPath: dir.path("a/3.webp"))
        try fm.copyItem(atPath: ImageFixtures.path("hostile/empty.png"), toPath: dir.path("a/4.png"))
        try fm.copyItem(atPath: ImageFixtures.path("hostile/not_an_image.jpg"), toPath: dir.path("a/5.jpg"))
        try fm.copyItem(atPath: ImageFixtures.path("images/rgb420.jpg"), toPath: dir.path("b/1.jpg"))
        return dir
    }

    @Test("--skip-bad-images leaves out and counts the images that fail, naming each")
    func skip() throws {
        let dir = try Self.folderWithBadImages()
        let samples = try ImageSamples(try ImageCollection.open(dir.path), loading: ImageLoading(skipBadImages: true))
        #expect(samples.count == 3)
        #expect(samples.labels == [0, 0, 1])
        #expect(samples.skipped.map { ($0.path as NSString).lastPathComponent } == ["2.jpg", "4.png", "5.jpg"])
        #expect(samples.skipped[0].underlying == .truncated(.jpeg))
        #expect(samples.sampleShape == [3, 47, 61])
        #expect(try samples.load([0, 1, 2]).count == 3 * 3 * 47 * 61)
    }

    @Test("without skipping, the first bad image of a batch (in request order) fails it")
    func fail() throws {
        let dir = try Self.folderWithBadImages()
        let samples = try ImageSamples(try ImageCollection.open(dir.path), loading: ImageLoading())
        #expect(samples.count == 6)
        #expect(throws: ImageFileError(path: dir.path("a/4.png"), underlying: .empty)) { try samples.load([0, 3, 1]) }
        #expect(throws: ImageFileError(path: dir.path("a/2.jpg"), underlying: .truncated(.jpeg))) { try samples.load([1, 3]) }
        #expect(try samples.load([0, 2]).count == 2 * 3 * 47 * 61)
    }

    @Test("batches do not depend on the thread count, and follow the requested order")
    func deterministic() throws {
        let collection = try ImageCollection.open(ImageFixtures.path("sources/folder"))
        var loading = ImageLoading(preprocessing: Preprocessing(resize: .shorterSide(7), crop: .init(square: 6), interpolation: .bicubic))
        loading.threads = 1
        let one = try ImageSamples(collection, loading: loading)
        loading.threads = 8
        let eight = try ImageSamples(collection, loading: loading)
        let all = Array(0..<collection.count)
        let batch = try one.load(all)
        #expect(try eight.load(all) == batch)
        let size = 3 * 6 * 6
        let reversed = try eight.load(all.reversed())
        for i in all {
            let j = all.count - 1 - i
            #expect(Array(reversed[(i * size)..<((i + 1) * size)]) == Array(batch[(j * size)..<((j + 1) * size)]))
        }
        var seen: [Range<Int>] = []
        try one.forEachBatch(5) { range, values in
            seen.append(range)
            #expect(values == Array(batch[(range.lowerBound * size)..<(range.upperBound * size)]))
        }
        #expect(seen == [0..<5, 5..<10, 10..<12])
    }

    @Test("images of different sizes without a crop are an error naming the file and the fix")
    func sizeMismatch() throws {
        let collection = try ImageCollection.open(ImageFixtures.path("sources/folder"))
        let samples = try ImageSamples(collection, loading: ImageLoading())
        #expect(samples.sampleShape == [3, 10, 12])
        #expect {
            try samples.load(Array(0..<samples.count))
        } throws: { error in
            let text = "\(error)"
            return text.contains("2/img08.webp: preprocessed to 3×10×13 but the first image gave 3×10×12")
                && text.hasSuffix("give --crop or --image-size so that every sample has one size")
        }
    }

    @Test("one channel: PIL's luma of the RGB image")
    func gray() throws {
        let collection = try ImageCollection.open(ImageFixtures.path("sources/manifest.csv"))
        let samples = try ImageSamples(collection, loading: ImageLoading(preprocessing: Preprocessing(channels: 1)))
        let values = try samples.load([0])
        let image = try ImageDecoder().decode(file: ImageFixtures.path("sources/flat/img00.png"), channels: 1)
        #expect(values == image.pixels.map { Float($0) / 255 })
    }
}
