import Testing
import Safeguards

@Suite("Safeguards: escaping, checked arithmetic, the allocation budget")
struct SafeguardsTests {
    @Test("control characters, C1 controls, line separators and bidi overrides are escaped; the rest is kept", arguments: [
        ("plain name.weight", "plain name.weight"),
        ("a\nb", #"a\u{a}b"#),
        ("\u{1b}[2J\u{1b}[31mred", #"\u{1b}[2J\u{1b}[31mred"#),
        ("nul\u{0}x\u{7f}", #"nul\u{0}x\u{7f}"#),
        ("csi\u{9b}31m", #"csi\u{9b}31m"#),
        ("line\u{2028}para\u{2029}next\u{85}", #"line\u{2028}para\u{2029}next\u{85}"#),
        ("evil\u{202e}txt.onnx", #"evil\u{202e}txt.onnx"#),
        ("poids_é ünïcode ∑ 🙂 back\\slash", "poids_é ünïcode ∑ 🙂 back\\slash"),
    ])
    func escaping(text: String, expected: String) {
        #expect(Escaping.printable(text) == expected)
        #expect(!Escaping.printable(text).unicodeScalars.contains(where: Escaping.needsEscape))
    }

    @Test("invalid UTF-8 becomes U+FFFD and stays on one line")
    func invalidUTF8() {
        #expect(Escaping.printable(bytes: [0x61, 0xFF, 0x0A, 0x62]) == "a\u{FFFD}\\u{a}b")
    }

    @Test("checked arithmetic reports overflow as nil")
    func checked() {
        #expect(Checked.add(Int.max, 1) == nil && Checked.add(2, 3) == 5)
        #expect(Checked.subtract(Int.min, 1) == nil && Checked.subtract(2, 3) == -1)
        #expect(Checked.multiply(1 << 32, 1 << 31) == nil && Checked.multiply(1 << 31, 1 << 31) == 1 << 62)
        #expect(Checked.sum([Int.max, 1]) == nil && Checked.sum([1, 2, 3]) == 6 && Checked.sum([]) == 0)
        #expect(Checked.bytes(elements: -1, size: 4) == nil && Checked.bytes(elements: 1 << 61, size: 4) == nil)
    }

    @Test("a product is nil for a negative dimension or when the non-zero dimensions overflow, even beside a zero", arguments: [
        ([], 1), ([5], 5), ([2, 3, 4], 24), ([0, 7], 0), ([1 << 31, 1 << 31], 1 << 62),
    ] as [([Int], Int)])
    func products(shape: [Int], expected: Int) {
        #expect(Checked.product(shape) == expected)
    }

    @Test("products that are refused", arguments: [[-1], [2, -3], [1 << 32, 1 << 32], [0, 1 << 62, 1 << 62], [1 << 62, 4, 0]])
    func refusedProducts(shape: [Int]) {
        #expect(Checked.product(shape) == nil)
    }

    @Test("the budget allows sizes up to its limit and describes sizes in binary units")
    func budget() {
        let limit = AllocationBudget.limit
        #expect(limit > 0 && limit <= AllocationBudget.defaultLimit)
        #expect(AllocationBudget.allows(limit) && !AllocationBudget.allows(limit + 1) && !AllocationBudget.allows(nil))
        #expect(AllocationBudget.describe(512) == "512 B")
        #expect(AllocationBudget.describe(3 << 10) == "3.0 KiB")
        #expect(AllocationBudget.describe(16 << 30) == "16.0 GiB")
        #expect(AllocationBudget.exceeded(nil).hasPrefix("needs more than 8.0 EiB, more than the "))
        #expect(AllocationBudget.defaultLimit <= 16 << 30)
    }
}
