import ArgumentParser
import Safeguards

/// `--max-memory`: the allocation budget (``AllocationBudget``) of the run.
///
/// Sizes that come from files and graphs (a ConstantOfShape target, padding, a broadcast, a
/// decompressed `.npz` member) are checked against it before anything is allocated; one graph
/// pass, or one decompressed tensor, that would need more fails with a one-line error naming
/// the node or tensor. Parsing the option sets the budget, so a command only has to include
/// this group.
struct MemoryOptions: ParsableArguments {
    @Option(help: ArgumentHelp(
        "The most memory one forward pass or one decompressed tensor may take, e.g. 4GiB (default: the physical memory, at most 16 GiB, and any ulimit -v).",
        valueName: "SIZE"))
    var maxMemory: ByteSize?

    func validate() throws {
        if let maxMemory { AllocationBudget.limit = maxMemory.bytes }
    }
}
