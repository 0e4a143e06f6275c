#if canImport(Glibc)
import Glibc
#endif
import Foundation
import ImageData
import Testing
import _TestSupport

@Suite("Corrupt and hostile images give one-line errors")
struct HostileImageTests {
    static let cases: [(String, ImageError)] = [
        ("truncated_rgb420.jpg", .truncated(.jpeg)),
        ("truncated_progressive.jpg", .truncated(.jpeg)),
        ("truncated_rgb.png", .truncated(.png)),
        ("truncated_lossy.webp", .truncated(.webp)),
        ("empty.png", .empty),
        ("not_an_image.jpg", .unknownFormat(name: "GIF")),
        ("huge_header.png", .tooLarge(.png, width: 60000, height: 60000, limit: 100_000_000)),
        ("huge_header.jpg", .tooLarge(.jpeg, width: 60000, height: 60000, limit: 100_000_000)),
        ("bomb.png", .tooLarge(.png, width: 16000, height: 16000, limit: 100_000_000)),
        ("zero_width.png", .zeroSize(.png)),
    ]

    @Test("each defect is its own error", arguments: cases)
    func defect(_ name: String, _ expected: ImageError) throws {
        #expect(throws: expected) { try ImageDecoder().decode(file: ImageFixtures.path("hostile/" + name), channels: 3) }
        let error = ImageFileError(path: "hostile/" + name, underlying: expected)
        #expect(!error.description.contains("\n"))
        #expect(error.description.hasPrefix("hostile/\(name): "))
    }

    @Test("16-bit grayscale is refused with the reason")
    func gray16() throws {
        do {
            _ = try ImageDecoder().decode(file: ImageFixtures.path("hostile/gray16.png"), channels: 3)
            Issue.record("decoded a 16-bit grayscale PNG")
        } catch let error as ImageError {
            guard case .unsupported(.png, let reason) = error else { Issue.record("\(error)"); return }
            #expect(reason.contains("16-bit grayscale"))
        }
    }

    /// The size limit is checked on the header: refusing the bomb (768 MB as RGB) and the 60000²
    /// headers (10.8 GB) must not raise the process's peak memory by more than a few megabytes.
    @Test("oversized headers are refused before allocation")
    func boundedMemory() throws {
        func peak() -> Int {
            var usage = rusage()
            getrusage(RUSAGE_SELF.rawValue, &usage)
            return usage.ru_maxrss * 1024
        }
        let before = peak()
        for name in ["bomb.png", "huge_header.png", "huge_header.jpg"] {
            for _ in 0..<3 {
                #expect(throws: ImageError.self) { try ImageDecoder().decode(file: ImageFixtures.path("hostile/" + name), channels: 3) }
            }
        }
        #expect(peak() - before < 200 << 20)
    }

    @Test("a lower pixel limit applies")
    func limit() throws {
        let decoder = ImageDecoder(maxPixels: 1000)
        #expect(throws: ImageError.tooLarge(.png, width: 61, height: 47, limit: 1000)) {
            try decoder.decode(file: ImageFixtures.path("images/rgb.png"), channels: 3)
        }
        #expect(throws: ImageError.tooLarge(.webp, width: 61, height: 47, limit: 1000)) {
            try decoder.decode(file: ImageFixtures.path("images/lossy.webp"), channels: 3)
        }
    }

    /// Every prefix and many byte flips of valid files: an error or an image, never a crash.
    @Test("mutated files throw or decode, never crash", arguments: ["rgb420.jpg", "progressive.jpg", "rgb.png", "interlaced.png", "lossy.webp", "lossless.webp"])
    func mutations(_ name: String) throws {
        let original = try [UInt8](contentsOf: ImageFixtures.path("images/" + name))
        var state: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next() -> Int {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Int(truncatingIfNeeded: state >> 33)
        }
        let decoder = ImageDecoder()
        for length in stride(from: 0, to: original.count, by: max(1, original.count / 97)) {
            _ = try? original.prefix(length).withUnsafeBytes { try decoder.decode($0, channels: 3) }
        }
        for _ in 0..<300 {
            var bytes = original
            for _ in 0..<(1 + next() % 4) { bytes[next() % bytes.count] = UInt8(truncatingIfNeeded: next()) }
            _ = try? bytes.withUnsafeBytes { try decoder.decode($0, channels: 3) }
        }
    }
}

extension Array where Element == UInt8 {
    init(contentsOf path: String) throws {
        guard let file = fopen(path, "rb") else { throw ImageError.unreadable(reason: path) }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let n = fread(&chunk, 1, chunk.count, file)
            if n == 0 { break }
            bytes += chunk[0..<n]
        }
        self = bytes
    }
}

@Suite("Image sources never block on a FIFO")
struct FIFOSourceTests {
    @Test("a FIFO given as an image, a manifest or a tar shard is refused as not a regular file, without blocking")
    func fifos() throws {
        let directory = TemporaryDirectory()
        for name in ["image.png", "list.csv", "shard.tar"] {
            #expect(mkfifo(directory.path(name), 0o644) == 0)
        }
        do {
            _ = try ImageDecoder().decode(file: directory.path("image.png"), channels: 3)
            Issue.record("decoded a FIFO")
        } catch let error as ImageError {
            #expect(error == .unreadable(reason: "not a regular file"))
        }
        for source in ["list.csv", "shard.tar"] {
            do {
                _ = try ImageCollection.open(directory.path(source))
                Issue.record("opened a FIFO as \(source)")
            } catch {
                #expect("\(error)".contains("not a regular file"), "\(error)")
            }
        }
    }
}
