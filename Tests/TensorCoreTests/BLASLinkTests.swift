import Testing
import TensorCore

@Suite("BLAS and LAPACK linkage")
struct BLASLinkTests {
    @Test("the linked BLAS is OpenBLAS, as the design requires")
    func linkedOpenBLAS() {
        #expect(BLAS.configuration.hasPrefix("OpenBLAS"), "linked BLAS reports: \(BLAS.configuration)")
    }
}
