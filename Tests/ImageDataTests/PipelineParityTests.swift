import ImageData
import Testing
import _TestSupport

@Suite("Resize + CenterCrop + ToTensor + Normalize agree with torchvision on PIL images")
struct PipelineParityTests {
    /// The 8-bit image after Resize and CenterCrop is PIL's, byte for byte (same fixed-point
    /// arithmetic, same 8-bit rounding between the horizontal and vertical passes).
    @Test("resized and cropped bytes equal PIL's", arguments: ImageFixtures.cases)
    func bytes(_ c: ImageFixtures.Case) throws {
        let image = try ImageDecoder().decode(file: ImageFixtures.path("images/" + c.image), channels: c.channels)
        let result = c.preprocessing.resizedAndCropped(image)
        let expected = try ImageFixtures.bytes("bytes_" + c.name)
        #expect([result.height, result.width, result.channels] == expected.shape)
        let difference = byteDifference(result.pixels, expected.values)
        #expect(difference.max == 0, "\(c.name): \(difference.count) of \(expected.values.count) samples differ, by up to \(difference.max)")
    }

    /// ToTensor and Normalize use torchvision's float32 operations: the tensors are bit-identical.
    @Test("tensors equal torchvision's", arguments: ImageFixtures.cases.filter(\.tensor))
    func tensors(_ c: ImageFixtures.Case) throws {
        let image = try ImageDecoder().decode(file: ImageFixtures.path("images/" + c.image), channels: c.channels)
        let (shape, values) = c.preprocessing.tensor(image)
        let expected = try #require(try ImageFixtures.floats("tensor_" + c.name))
        #expect(shape == expected.shape)
        expectClose(values, expected.values, rtol: 0, atol: 0, "\(c.name)")
    }
}
