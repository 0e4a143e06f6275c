import ArgumentParser

/// `modelforget data`: look at data sources before using them.
struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data",
        abstract: "Look at image data sources: classes, image sizes, the preprocessing a model will get.",
        subcommands: [InspectImages.self])
}
