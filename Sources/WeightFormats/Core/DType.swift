/// An element type of a stored tensor, spelled as safetensors spells it.
///
/// Every dtype of the current safetensors format is listed, so that tensors are carried through
/// untouched even where modelforget does no math on them. The declaration order is the
/// safetensors enum order ("increasing alignment order"), which writers use to lay out data.
public enum DType: String, CaseIterable, Sendable, Hashable, Codable {
    case BOOL, F4, F6_E2M3, F6_E3M2, U8, I8, F8_E5M2, F8_E4M3, F8_E8M0, F8_E4M3FNUZ, F8_E5M2FNUZ
    case I16, U16, F16, BF16, I32, U32, F32, C64, F64, I64, U64

    /// Bits per element (4 and 6 for the packed micro-float formats).
    public var bitWidth: Int {
        switch self {
        case .F4: 4
        case .F6_E2M3, .F6_E3M2: 6
        case .BOOL, .U8, .I8, .F8_E5M2, .F8_E4M3, .F8_E8M0, .F8_E4M3FNUZ, .F8_E5M2FNUZ: 8
        case .I16, .U16, .F16, .BF16: 16
        case .I32, .U32, .F32: 32
        case .C64, .F64, .I64, .U64: 64
        }
    }

    /// Position in the safetensors enum; larger means stricter alignment.
    public var alignmentRank: Int { DType.allCases.firstIndex(of: self)! }

    /// Bytes per element, or `nil` for packed sub-byte types.
    public var byteWidth: Int? { bitWidth % 8 == 0 ? bitWidth / 8 : nil }

    /// The floating-point types modelforget converts between and computes on.
    public var isConvertibleFloat: Bool {
        switch self {
        case .F16, .BF16, .F32, .F64: true
        default: false
        }
    }
}
