import ArgumentParser

@main
struct VidLM: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vidlm",
        abstract: "Ask questions about videos and images.",
        subcommands: [Probe.self, Frames.self, Features.self]
    )
}
