import ArgumentParser

@main
struct ModelForget: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "modelforget",
        abstract: "Remove whole classes from trained classifiers by editing their weight files.",
        version: "0.1.0")
}
