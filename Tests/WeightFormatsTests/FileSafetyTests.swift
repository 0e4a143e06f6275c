import Foundation
import Testing
import WeightFormats
import _TestSupport

@Suite("file safety: containment, special files, outputs that are inputs, sets published together")
struct FileSafetyTests {
    @Test("names that leave their folder lexically", arguments: [
        ("a.bin", true), ("sub/a.bin", true), ("sub\\a.bin", true), ("..a.bin", true),
        ("", false), ("/etc/passwd", false), ("\\share\\x", false), ("../x", false), ("a/../../x", false), ("a\\..\\x", false),
    ])
    func lexicalRule(name: String, allowed: Bool) {
        #expect(PathContainment.isRelativeInside(name) == allowed)
    }

    @Test("a symbolic link out of the folder is refused, one inside it is followed, a FIFO or folder is not read")
    func containment() throws {
        let directory = TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory.path("model/data"), withIntermediateDirectories: true)
        directory.write("secret", [1, 2, 3])
        directory.write("model/data/real.bin", [4, 5])
        try FileManager.default.createSymbolicLink(atPath: directory.path("model/out.bin"), withDestinationPath: directory.path("secret"))
        try FileManager.default.createSymbolicLink(atPath: directory.path("model/up.bin"), withDestinationPath: "../secret")
        try FileManager.default.createSymbolicLink(atPath: directory.path("model/in.bin"), withDestinationPath: "data/real.bin")
        try FileManager.default.createSymbolicLink(atPath: directory.path("model/data/back.bin"), withDestinationPath: "../in.bin")
        #expect(mkfifo(directory.path("model/pipe.bin"), 0o644) == 0)
        let folder = directory.path("model")
        for name in ["out.bin", "up.bin"] {
            #expect(throws: FileAccessError.outsideFolder(path: folder + "/" + name, folder: folder)) {
                try MappedFile(named: name, inFolder: folder)
            }
        }
        for name in ["in.bin", "data/back.bin"] {
            let file = try MappedFile(named: name, inFolder: folder)
            withExtendedLifetime(file) { #expect(Array(file.bytes) == [4, 5]) }
        }
        #expect(throws: FileAccessError.notARegularFile(path: folder + "/pipe.bin", kind: "a FIFO (named pipe)")) {
            try MappedFile(named: "pipe.bin", inFolder: folder)
        }
        #expect(throws: FileAccessError.notARegularFile(path: folder + "/data", kind: "a folder")) {
            try MappedFile(path: folder + "/data")
        }
    }

    @Test("a writer refuses a destination that is an open input; closed, the file is an ordinary destination")
    func outputIsInput() throws {
        let directory = TemporaryDirectory()
        let path = directory.write("in.bin", [1, 2, 3])
        var input: MappedFile? = try MappedFile(path: path)
        #expect(InputFiles.input(sameAs: directory.path("./in.bin")) == path)
        #expect(throws: WeightFileError.self) { try AtomicFileWriter(destination: path) }
        // Opened after the writer was made: refused when it is committed.
        input = nil
        let writer = try AtomicFileWriter(destination: path)
        try writer.write([9])
        input = try MappedFile(path: path)
        #expect(throws: WeightFileError.self) { try writer.commit() }
        #expect(fileContents(path) == [1, 2, 3])
        input = nil
        _ = input
        #expect(InputFiles.input(sameAs: path) == nil)
    }

    @Test("when one file of a set cannot be renamed into place, the files already renamed are removed")
    func publishTogether() throws {
        let directory = TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory.path("b/occupied"), withIntermediateDirectories: true)
        let first = try AtomicFileWriter(destination: directory.path("a"))
        try first.write([1])
        let second = try AtomicFileWriter(destination: directory.path("b"))   // a non-empty folder: rename fails
        try second.write([2])
        #expect(throws: WeightFileError.self) { try AtomicFileWriter.publishTogether([first, second]) }
        #expect(directory.contents() == ["b"])
    }

    @Test("a header that is a JSON value but not an object is a safetensors file with a bad header")
    func jsonStringHeader() throws {
        let directory = TemporaryDirectory()
        let path = directory.write("h", [8, 0, 0, 0, 0, 0, 0, 0] + Array(#""x"     "#.utf8))
        #expect(try Checkpoint.detectFormat(path) == .safetensors)
        #expect(throws: WeightFileError.self) { try Checkpoint.open(path) }
        // Every ONNX fixture is still recognised as ONNX.
        for name in ["mlp_raw.onnx", "typed_fields.onnx", "external.onnx", "unknown_fields.onnx"] {
            #expect(try Checkpoint.detectFormat(Fixtures.path("Formats/fixtures/onnx/" + name)) == .onnx)
        }
    }
}
