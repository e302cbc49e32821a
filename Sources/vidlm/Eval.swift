import ArgumentParser
import Foundation
import VidLM
import VidLMModels

struct Eval: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluations of a model.",
        subcommands: [FrameOrder.self])
}

struct FrameOrder: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "frame-order",
        abstract: "Does the model use frame order? Caption likelihood in true vs reversed / shuffled order.",
        discussion: """
        For each clip of the manifest (JSON Lines: {"video": "path", "caption": "…", "id": "…"}, \
        paths relative to the manifest) the caption's log-likelihood is computed with the sampled \
        frames in true order, reversed, and in K seeded shuffles. A clip is correct when the true \
        order scores above every perturbation; exact ties count 1/(number tied), so an order-blind \
        model scores chance: 1/(perturbations + 1), e.g. 50 % for reverse alone, 1/(K+2) for both. \
        The control run repeats the scoring with every frame at position 0. Each clip is decoded \
        and encoded once. Clips that cannot be read are reported in the rows and the summary; \
        the run continues and the exit status is 1 at the end.
        """)

    @Option(help: "The manifest (JSON Lines).")
    var manifest: String

    @Option(help: "Model directory (default: $VIDLM_MODEL, else the embedded model).")
    var model: String?

    @Option(help: "reverse, shuffle or both.")
    var mode: String = "both"

    @Option(help: "Seeded random shuffles per clip (shuffle/both).")
    var shuffles: Int = 4

    @Option(help: "Frames per clip (default: the model's).")
    var frames: Int?

    @Option(help: "Seed of the shuffles and the bootstrap.")
    var seed: UInt64 = 0

    @Option(help: "Write the full report as JSON here.")
    var output: String?

    @Option(help: "Write an SVG histogram of the margins (true vs control) here.")
    var plot: String?

    func run() async throws {
        var failedClips = 0
        try await runReportingErrors {
            guard let mode = PerturbationMode(rawValue: mode) else {
                throw CLIError(message: "--mode must be reverse, shuffle or both, not '\(self.mode)'.")
            }
            let settings = FrameOrderSettings(mode: mode, shuffles: shuffles, frames: frames, seed: seed)
            try settings.validate()
            let manifest = try FrameOrderManifest.load(URL(fileURLWithPath: self.manifest))
            let directory = try ModelLocation.resolve(model)
            let output = self.output, plot = self.plot
            let report: FrameOrderReport = try await withInterruptCancellationValue {
                let engine = try await Engine.load(directory: directory)
                return try await FrameOrderEvaluation(engine: engine, settings: settings).run(manifest) { done, total, id in
                    FileHandle.standardError.writeIfTerminal("\rvidlm: frame-order \(done)/\(total) (\(id))" + (done == total ? "\n" : ""))
                }
            }
            if let output {
                try writeAtomically(try jsonEncoder().encode(report), to: output)
            }
            if let plot {
                try writeAtomically(Data(MarginPlot.svg(report).utf8), to: plot)
            }
            print(FrameOrderTable.render(report), terminator: "")
            failedClips = report.failed
        }
        if failedClips > 0 {
            FileHandle.standardError.write(Data("vidlm: \(failedClips) clip\(failedClips == 1 ? "" : "s") could not be scored (see the rows above).\n".utf8))
            throw ExitCode(1)
        }
    }
}

/// The human-readable summary and per-clip table.
enum FrameOrderTable {
    static func render(_ r: FrameOrderReport) -> String {
        func pct(_ v: Double) -> String { String(format: "%5.1f%%", v * 100) }
        var s = "frame-order: \(r.modelType) (\(r.model))\n"
        s += "clips \(r.clips) (scored \(r.scored), failed \(r.failed)); mode \(r.settings.mode.rawValue)"
        if r.settings.mode != .reverse { s += ", \(r.settings.shuffles) shuffles" }
        s += "; seed \(r.settings.seed); chance \(pct(r.chance)); \(String(format: "%.1f", r.seconds)) s\n"
        s += "order signal: \(r.orderSignal)\ncontrol: \(r.control)\n\n"
        s += "arm            accuracy   95% interval       mean margin\n"
        for (name, arm) in [("true order", r.trueOrder), ("order removed", r.orderRemoved)] {
            s += name.padding(toLength: 14, withPad: " ", startingAt: 0)
            s += " \(pct(arm.accuracy))    [\(pct(arm.accuracyInterval[0])), \(pct(arm.accuracyInterval[1]))]"
            s += String(format: "   %+.3f\n", arm.meanMargin)
        }
        s += "\nid                       frames   true score   margin   credit   control margin\n"
        for row in r.rows {
            let id = row.id.count > 24 ? String(row.id.prefix(23)) + "…" : row.id.padding(toLength: 24, withPad: " ", startingAt: 0)
            if let error = row.error {
                s += "\(id) ERROR: \(error)\n"
                continue
            }
            s += id + String(format: " %6d %12.3f %+8.3f %8.2f %+16.3f\n", row.frames, row.trueScore, row.margin, row.credit, row.controlMargin)
        }
        return s
    }
}

/// Writes `data` to `path` whole or not at all.
func writeAtomically(_ data: Data, to path: String) throws {
    do {
        try data.write(to: URL(fileURLWithPath: path), options: .atomic)
    } catch {
        throw CLIError(message: "Cannot write \(path): \(error.localizedDescription)")
    }
}

/// `withInterruptCancellation` for a body that returns a value.
func withInterruptCancellationValue<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
    let box = ResultBox<T>()
    try await withInterruptCancellation { box.value = try await body() }
    guard let value = box.value else { throw CancellationError() }
    return value
}

final class ResultBox<T: Sendable>: @unchecked Sendable {
    var value: T?
}
