import ArgumentParser
import Foundation
import VidLMMedia

struct Probe: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Print container and video stream facts as JSON.")

    @Argument(help: "A video or image file.")
    var media: String

    func run() async throws {
        try await runReportingErrors {
            let decoder = try await MediaDecoder.open(media)
            let info = try await decoder.probe()
            try printJSON(info)
        }
    }
}
