import Foundation

/// The resampling filters of PIL's `Image.resize` (and so of torchvision's `Resize` on PIL images).
///
/// Every filter but `nearest` is a convolution kernel `w(x)` with a support; PIL widens the
/// kernel by the scale factor when shrinking (that is the antialiasing), see ``Resampling``.
public enum Interpolation: String, CaseIterable, Sendable, Codable, CustomStringConvertible {
    case nearest, box, bilinear, hamming, bicubic, lanczos

    public var description: String { rawValue }

    /// The filter PIL numbers `code` (`Image.Resampling`: 0 nearest, 1 lanczos, 2 bilinear,
    /// 3 bicubic, 4 box, 5 hamming), as transformers' `resample` stores it.
    public init?(pilCode: Int) {
        let filters: [Int: Interpolation] = [0: .nearest, 1: .lanczos, 2: .bilinear, 3: .bicubic, 4: .box, 5: .hamming]
        guard let filter = filters[pilCode] else { return nil }
        self = filter
    }

    /// The filter a name (torchvision's `InterpolationMode`, timm's `interpolation`) stands for;
    /// `antialias` and `linear`/`cubic` spellings accepted.
    public init?(name: String) {
        let aliases: [String: Interpolation] = ["linear": .bilinear, "cubic": .bicubic, "antialias": .lanczos]
        let key = name.lowercased()
        guard let filter = Interpolation(rawValue: key) ?? aliases[key] else { return nil }
        self = filter
    }

    /// Half-width of the kernel at scale 1.
    var support: Double {
        switch self {
        case .nearest: 0
        case .box: 0.5
        case .bilinear, .hamming: 1
        case .bicubic: 2
        case .lanczos: 3
        }
    }

    /// The kernel: box `[−½, ½)`, triangle, Hamming-windowed sinc, Keys cubic with `a = −½`,
    /// Lanczos-3 (sinc · sinc(x/3)); the same expressions, in the same order, as PIL evaluates them.
    func weight(_ x: Double) -> Double {
        switch self {
        case .nearest:
            return 0
        case .box:
            return x > -0.5 && x <= 0.5 ? 1 : 0
        case .bilinear:
            let x = abs(x)
            return x < 1 ? 1 - x : 0
        case .hamming:
            let x = abs(x)
            if x == 0 { return 1 }
            if x >= 1 { return 0 }
            let t = x * Double.pi
            return sin(t) / t * (Double(Float(0.54)) + Double(Float(0.46)) * cos(t))
        case .bicubic:
            let a = -0.5, x = abs(x)
            if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
            if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
            return 0
        case .lanczos:
            guard -3 <= x && x < 3 else { return 0 }
            return Self.sinc(x) * Self.sinc(x / 3)
        }
    }

    private static func sinc(_ x: Double) -> Double {
        if x == 0 { return 1 }
        let t = x * Double.pi
        return sin(t) / t
    }
}
