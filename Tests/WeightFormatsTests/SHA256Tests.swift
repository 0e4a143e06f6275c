import Foundation
import Testing
import WeightFormats
import _TestSupport

@Suite("SHA-256")
struct SHA256Tests {
    @Test("FIPS 180-4 test vectors", arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
    ])
    func vectors(message: String, digest: String) {
        var hasher = SHA256()
        hasher.update(Array(message.utf8))
        #expect(hasher.finalize() == digest)
    }

    @Test("files hash like Python's hashlib, across block and chunk boundaries", .tags(.interop), .requiresPython("hashlib"))
    func fileDigest() throws {
        let directory = TemporaryDirectory()
        var rng = SeededGenerator(seed: 4)
        for size in [63, 64, 65, 1000, 100_003] {
            let path = directory.write("f\(size)", (0..<size).map { _ in UInt8.random(in: 0...255, using: &rng) })
            let expected = try ProcessRunner.python("import hashlib, sys; print(hashlib.sha256(open(sys.argv[1], 'rb').read()).hexdigest())", [path])
            #expect(try SHA256.hex(ofFile: path) + "\n" == expected.stdout)
        }
    }
}
