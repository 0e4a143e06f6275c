import Dispatch
import Foundation

/// What the headers of a collection's images say: formats, colour models, sizes, unreadable files.
public struct ImageInspection: Codable, Sendable, Equatable {
    public struct SizeCount: Codable, Sendable, Equatable {
        public var width: Int
        public var height: Int
        public var images: Int
    }
    public var formats: [String: Int] = [:]
    public var colorModels: [String: Int] = [:]
    public var widths: ClosedRange<Int>?
    public var heights: ClosedRange<Int>?
    /// The most common sizes, most frequent first (at most 10).
    public var commonSizes: [SizeCount] = []
    public var distinctSizes = 0
    public var unreadable = 0
    /// The first unreadable images with what is wrong (`FILE: reason`), at most 20.
    public var unreadableExamples: [String] = []

    enum CodingKeys: String, CodingKey {
        case formats, widths, heights, unreadable
        case colorModels = "color_models", commonSizes = "common_sizes", distinctSizes = "distinct_sizes"
        case unreadableExamples = "unreadable_examples"
    }
}

extension ImageCollection {
    /// Reads every image's header (on `threads` threads); only headers, so a truncated file may
    /// pass here and fail when decoded.
    public func inspect(decoder: ImageDecoder = ImageDecoder(), threads: Int = ProcessInfo.processInfo.activeProcessorCount,
                        progress: ((Int, Int) -> Void)? = nil) -> ImageInspection {
        let results = ImageSamples.parallelMap(count, threads: threads, progress: progress) { [self] i in
            do {
                let bytes = try bytes(of: i)
                return try bytes.withUnsafeBytes { try decoder.header($0) }
            } catch let error as ImageError {
                throw ImageFileError(path: samples[i].name, underlying: error)
            }
        }
        var inspection = ImageInspection()
        var sizes: [Int: [Int: Int]] = [:]
        for result in results {
            switch result {
            case .success(let header):
                inspection.formats[header.format.rawValue, default: 0] += 1
                inspection.colorModels["\(header.colorModel) \(header.bitDepth)-bit", default: 0] += 1
                inspection.widths = inspection.widths.map { min($0.lowerBound, header.width)...max($0.upperBound, header.width) } ?? header.width...header.width
                inspection.heights = inspection.heights.map { min($0.lowerBound, header.height)...max($0.upperBound, header.height) } ?? header.height...header.height
                sizes[header.width, default: [:]][header.height, default: 0] += 1
            case .failure(let error):
                inspection.unreadable += 1
                if inspection.unreadableExamples.count < 20 { inspection.unreadableExamples.append("\(error)") }
            }
        }
        let all = sizes.flatMap { w, hs in hs.map { ImageInspection.SizeCount(width: w, height: $0.key, images: $0.value) } }
        inspection.distinctSizes = all.count
        inspection.commonSizes = Array(all.sorted { ($0.images, $1.width, $1.height) > ($1.images, $0.width, $0.height) }.prefix(10))
        return inspection
    }
}
