import Foundation
import ImageData
import Testing
import _TestSupport

/// What `make_fixtures.py` recorded from torchvision's ImageFolder over `sources/folder`.
private struct SourcesRecord: Decodable {
    let class_to_idx: [String: Int]
    let samples: [[Sample]]
    let manifest: [[String]]

    enum Sample: Decodable {
        case path(String), label(Int)
        init(from decoder: Decoder) throws {
            let c = try decoder.singleValueContainer()
            if let label = try? c.decode(Int.self) { self = .label(label) } else { self = .path(try c.decode(String.self)) }
        }
    }

    static let shared: SourcesRecord = {
        let data = try! Data(contentsOf: URL(fileURLWithPath: ImageFixtures.path("sources/sources.json")))
        return try! JSONDecoder().decode(SourcesRecord.self, from: data)
    }()

    /// torchvision's samples as (path relative to the folder, label).
    var torchvisionSamples: [(String, Int)] {
        samples.map { pair in
            guard case .path(let path) = pair[0], case .label(let label) = pair[1] else { fatalError("bad sources.json") }
            return (path, label)
        }
    }
}

@Suite("Image folders, manifests and WebDataset shards")
struct ImageSourceTests {
    let root = ImageFixtures.path("sources/folder")

    @Test("an image folder maps classes and orders samples as torchvision's ImageFolder")
    func imageFolder() throws {
        let collection = try ImageCollection.open(root)
        let record = SourcesRecord.shared
        #expect(collection.kind == .imageFolder)
        #expect(collection.mapping.rule == .sortedNames)
        #expect(collection.mapping.indices == record.class_to_idx)
        let ours = collection.samples.map { (String($0.name.dropFirst(root.count + 1)), $0.label!) }
        #expect(ours.map(\.0) == record.torchvisionSamples.map(\.0))
        #expect(ours.map(\.1) == record.torchvisionSamples.map(\.1))
        // notes.txt and the hidden .ipynb_checkpoints folder are not samples.
        #expect(!collection.samples.contains { $0.name.contains("notes.txt") || $0.name.contains(".ipynb") })
    }

    @Test("class folders named as the model's labels take the model's indices")
    func modelLabels() throws {
        let labels = ["zebra", "unused", "cat", "Dog", "10", "2", "été"]
        let collection = try ImageCollection.open(root, labelNames: labels)
        #expect(collection.mapping.rule == .modelLabels)
        #expect(collection.mapping.indices == ["zebra": 0, "cat": 2, "Dog": 3, "10": 4, "2": 5, "été": 6])
        for sample in collection.samples {
            let folder = sample.name.dropFirst(root.count + 1).split(separator: "/")[0]
            #expect(labels[sample.label!] == String(folder))
        }
    }

    @Test("class folders partly named as the model's labels are an error naming the others")
    func partialModelLabels() throws {
        #expect {
            try ImageCollection.open(root, labelNames: ["cat", "Dog", "zebra"])
        } throws: { error in
            "\(error)".hasSuffix("3 class names are the model's labels but 3 are not ('10', '2', 'été'); rename those to labels of the model")
        }
    }

    @Test("numeric class folders sorted as text are flagged")
    func numericFolders() throws {
        let digits = TemporaryDirectory()
        for name in ["0", "1", "2", "10"] {
            try FileManager.default.createDirectory(atPath: digits.path(name), withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: ImageFixtures.path("images/small.png"), toPath: digits.path(name + "/a.png"))
        }
        let collection = try ImageCollection.open(digits.path)
        #expect(collection.mapping.indices == ["0": 0, "1": 1, "10": 2, "2": 3])
        #expect(collection.notes.first?.contains("'10' is class 2") == true)
    }

    @Test("a flat folder asks for class folders or a manifest")
    func flatFolder() throws {
        #expect {
            try ImageCollection.open(ImageFixtures.path("sources/flat"))
        } throws: { error in
            "\(error)".hasSuffix("12 images but no class folders; put them in a folder per class or list them in a manifest (CSV or JSON Lines: path,label)")
        }
    }

    @Test("CSV and JSON Lines manifests with class names map them sorted", arguments: ["manifest.csv", "manifest.jsonl"])
    func namedManifest(_ name: String) throws {
        let collection = try ImageCollection.open(ImageFixtures.path("sources/" + name))
        let record = SourcesRecord.shared
        #expect(collection.kind == .manifest)
        #expect(collection.mapping.rule == .sortedNames)
        #expect(collection.samples.map { ($0.name as NSString).lastPathComponent } == record.manifest.map { $0[0] })
        #expect(collection.samples.map(\.label!) == record.manifest.map { record.class_to_idx[$0[1]]! })
        let first = try collection.bytes(of: 0)
        #expect(first == (try [UInt8](contentsOf: ImageFixtures.path("sources/flat/img00.png"))))
    }

    @Test("a CSV manifest of integers (no header, quoted paths) keeps them as indices")
    func integerManifest() throws {
        let collection = try ImageCollection.open(ImageFixtures.path("sources/manifest_int.csv"))
        #expect(collection.mapping.rule == .integers)
        #expect(collection.samples.map(\.label!) == (0..<12).map { $0 % 4 })
    }

    @Test("CSV: quotes, doubled quotes, CRLF, BOM, header in any column order")
    func csvParsing() throws {
        let dir = TemporaryDirectory()
        let text = "\u{FEFF}label,path\r\n3,\"a, b.png\"\r\n\"4\",\"say \"\"hi\"\".png\"\r\n\r\n5,plain.png"
        dir.write("m.csv", Array(text.utf8))
        let collection = try ImageCollection.open(dir.path("m.csv"))
        #expect(collection.samples.map { ($0.name as NSString).lastPathComponent } == ["a, b.png", "say \"hi\".png", "plain.png"])
        #expect(collection.samples.map(\.label) == [3, 4, 5])
    }

    @Test("manifest defects name the line")
    func manifestErrors() throws {
        let dir = TemporaryDirectory()
        dir.write("a.csv", Array("x.png,1\ny.png\n".utf8))
        #expect { try ImageCollection.open(dir.path("a.csv")) } throws: { "\($0)".hasSuffix("line 2 has no label but other lines do") }
        dir.write("b.jsonl", Array("{\"path\": \"x.png\", \"label\": 1}\n[1]\n".utf8))
        #expect { try ImageCollection.open(dir.path("b.jsonl")) } throws: { "\($0)".hasSuffix("line 2 is not a JSON object") }
        dir.write("c.csv", Array("a.png,1\n\"b.png,2\n".utf8))
        #expect { try ImageCollection.open(dir.path("c.csv")) } throws: { "\($0)".hasSuffix("line 2: a quoted field is not closed") }
    }

    @Test("WebDataset shards hold the image folder's samples: same labels, same bytes, same tensors")
    func webDatasetRoundTrip() throws {
        let shards = try ImageCollection.open(ImageFixtures.path("sources/wds/shard-{000000..000001}.tar"))
        let folder = try ImageCollection.open(root)
        #expect(shards.kind == .webDataset)
        #expect(shards.count == folder.count)
        #expect(shards.labels == folder.labels)
        #expect(shards.samples.first?.name.hasSuffix("shard-000000.tar:sample0000.png") == true)
        for i in 0..<folder.count {
            #expect(try shards.bytes(of: i) == (try folder.bytes(of: i)), "sample \(i)")
            guard case .member = shards.samples[i].location else { Issue.record("not read by offset"); continue }
        }
        let loading = ImageLoading(preprocessing: Preprocessing(resize: .exact(.init(height: 9, width: 11)), mean: [0.5], std: [0.2]))
        let a = try ImageSamples(shards, loading: loading), b = try ImageSamples(folder, loading: loading)
        #expect(try a.load(Array(0..<a.count)) == (try b.load(Array(0..<b.count))))
    }

    @Test("compressed shards are indexed into memory, with a note")
    func compressedShard() throws {
        let dir = TemporaryDirectory()
        let shard = ImageFixtures.path("sources/wds/shard-000000.tar")
        let gzip = Process()
        gzip.executableURL = URL(fileURLWithPath: "/bin/sh")
        gzip.arguments = ["-c", "gzip -c '\(shard)' > '\(dir.path("s.tar.gz"))'"]
        try gzip.run()
        gzip.waitUntilExit()
        let compressed = try ImageCollection.open(dir.path("s.tar.gz"))
        let plain = try ImageCollection.open(shard)
        #expect(compressed.count == plain.count && compressed.labels == plain.labels)
        #expect(try compressed.bytes(of: 1) == (try plain.bytes(of: 1)))
        #expect(compressed.notes.first?.contains("kept in memory") == true)
    }

    @Test("brace patterns expand as braceexpand does")
    func braces() throws {
        #expect(try BracePattern.expand("s-{000..002}.tar") == ["s-000.tar", "s-001.tar", "s-002.tar"])
        #expect(try BracePattern.expand("{a,b}-{8..10}") == ["a-8", "a-9", "a-10", "b-8", "b-9", "b-10"])
        #expect(try BracePattern.expand("x{3..1}") == ["x3", "x2", "x1"])
        #expect(try BracePattern.expand("plain.tar") == ["plain.tar"])
        #expect(throws: ImageSourceError.self) { try BracePattern.expand("s-{0..") }
        #expect(throws: ImageSourceError.self) { try BracePattern.expand("s-{a..b}") }
        #expect(throws: ImageSourceError.self) { try BracePattern.expand("{0..99}{0..9}", limit: 500) }
    }
}
