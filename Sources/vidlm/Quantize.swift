import ArgumentParser
import Foundation
import VidLM
import VidLMTensor

struct Quantize: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a copy of a model with its linear weights in a block format (q8_0, q4_0, q4_k).",
        discussion: """
        Every linear weight of the decoder, and of the vision tower and bridge unless --skip \
        names them, is stored in llama.cpp's block layout (q8_0: 32 int8 + an f16 scale; q4_0: \
        32 4-bit values + an f16 scale; q4_k: super-blocks of 256 4-bit values with 6-bit scales \
        and mins per 32, written in q8_0 where a weight's inner size is not a multiple of 256); \
        embeddings, norms and biases keep their dtype. The output folder loads like any model \
        folder and is written whole or not at all.
        """)

    @Argument(help: "The model folder to quantize.")
    var input: String

    @Argument(help: "The folder to create (must not exist).")
    var output: String

    @Option(name: .customLong("type"), help: "q8_0, q4_0 or q4_k.")
    var type: String

    @Option(help: "Parts left unquantized, comma-separated: vision, bridge.")
    var skip: String = ""

    func run() async throws {
        try await runReportingErrors {
            guard let format = BlockQuantization.format(named: type) else { throw QuantizeError.unknownType(type) }
            var parts: Set<ModelQuantizer.Component> = []
            for name in skip.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) where !name.isEmpty {
                guard let part = ModelQuantizer.Component(rawValue: name), part != .decoder else {
                    throw QuantizeError.unknownComponent(name)
                }
                parts.insert(part)
            }
            let summary = try ModelQuantizer.quantize(input: URL(fileURLWithPath: input), output: URL(fileURLWithPath: output),
                                                      format: format, skip: parts) { line in
                FileHandle.standardError.write(Data("quantize: \(line)\n".utf8))
            }
            let mib = { (n: Int) in String(format: "%.1f MiB", Double(n) / 1_048_576) }
            FileHandle.standardError.write(Data("quantize: \(summary.quantized) weights quantized\(summary.fallback > 0 ? " (\(summary.fallback) of them in \(BlockQuantization.name(of: ModelQuantizer.fallback)))" : ""), \(summary.kept) kept; \(mib(summary.bytesIn)) -> \(mib(summary.bytesOut)); wrote \(output)\n".utf8))
        }
    }
}
