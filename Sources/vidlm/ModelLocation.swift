import Foundation

/// Where a command's model comes from: `--model DIR`, else `VIDLM_MODEL`, else the embedded
/// default model shipped in the repository's `models/` (found next to the installed binary, in
/// `share/vidlm/models/` beside it, or in a parent folder of it, which covers `.build/release`).
enum ModelLocation {
    static let embeddedName = "vidlm-shapes"

    static func resolve(_ option: String?) throws -> URL {
        if let option { return URL(fileURLWithPath: option) }
        if let env = ProcessInfo.processInfo.environment["VIDLM_MODEL"], !env.isEmpty {
            return URL(fileURLWithPath: env)
        }
        if let found = embedded() { return found }
        throw CLIError(message: "No --model given and the embedded model '\(embeddedName)' was not found next to the vidlm binary; pass --model DIR or set VIDLM_MODEL.")
    }

    static func embedded() -> URL? {
        let exe = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? Bundle.main.executablePath ?? CommandLine.arguments[0]
        var dir = URL(fileURLWithPath: exe).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<6 {
            for candidate in ["models/\(embeddedName)", "share/vidlm/models/\(embeddedName)"] {
                let url = dir.appendingPathComponent(candidate)
                if FileManager.default.fileExists(atPath: url.appendingPathComponent("config.json").path) { return url }
            }
            let parent = dir.deletingLastPathComponent()
            if parent.path == dir.path { break }
            dir = parent
        }
        return nil
    }
}
