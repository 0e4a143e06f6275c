import CLibSVM
import Testing

@Suite("libsvm link")
struct LibSVMLinkTests {
    @Test("the linked libsvm is the 3.x solver scikit-learn wraps")
    func version() {
        let version = clibsvm_version()
        #expect(version >= 300)
    }
}
