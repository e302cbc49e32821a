import ArgumentParser

@main
struct VidLM: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vidlm",
        abstract: "Ask questions about videos and images.",
        subcommands: [Ask.self, Caption.self, Image.self, Generate.self, Probe.self, Frames.self, Features.self, Eval.self,
                      Classify.self, Embed.self, Serve.self, Chat.self, Batch.self, Quantize.self]
    )
}
