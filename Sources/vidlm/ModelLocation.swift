import Foundation

/// Where a command's model comes from, first match wins:
/// 1. `--model DIR`;
/// 2. `$VIDLM_MODEL`;
/// 3. the built-in model `models/vidlm-shapes` next to the binary's real path or in one of its
///    parent folders (a build inside the checkout, e.g. `.build/release/vidlm`);
/// 4. `<binary's folder>/../share/vidlm/models/vidlm-shapes` (what `make install` lays out);
/// 5. `vidlm/models/vidlm-shapes` under each XDG data directory: `$XDG_DATA_HOME` (default
///    `~/.local/share`), then each of `$XDG_DATA_DIRS` (default `/usr/local/share:/usr/share`).
enum ModelLocation {
    static let embeddedName = "vidlm-shapes"
    /// Parent folders searched above the binary: `<checkout>/.build/<triple>/release/vidlm` is 3 deep.
    static let parentLevels = 4

    struct Resolved {
        let url: URL
        /// True when no model was named (option or `VIDLM_MODEL`) and the built-in demo model is used.
        let isBuiltIn: Bool
    }

    static func resolve(_ option: String?) throws -> URL { try resolveModel(option).url }

    static func resolveModel(_ option: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Resolved {
        if let option { return Resolved(url: URL(fileURLWithPath: option), isBuiltIn: false) }
        if let env = environment["VIDLM_MODEL"], !env.isEmpty {
            return Resolved(url: URL(fileURLWithPath: env), isBuiltIn: false)
        }
        let candidates = self.candidates(executable: executablePath(), environment: environment)
        if let found = candidates.first(where: isModelDirectory) { return Resolved(url: found, isBuiltIn: true) }
        throw CLIError(message: notFoundMessage(candidates))
    }

    /// Every place the built-in model is looked for, in order, without duplicates.
    static func candidates(executable: String, environment: [String: String]) -> [URL] {
        var urls: [URL] = []
        func add(_ url: URL) {
            let url = url.standardizedFileURL
            if !urls.contains(where: { $0.path == url.path }) { urls.append(url) }
        }
        let binDir = URL(fileURLWithPath: executable).resolvingSymlinksInPath().deletingLastPathComponent()
        var dir = binDir
        for _ in 0...parentLevels {
            add(dir.appendingPathComponent("models/\(embeddedName)"))
            let parent = dir.deletingLastPathComponent()
            if parent.path == dir.path { break }
            dir = parent
        }
        add(binDir.deletingLastPathComponent().appendingPathComponent("share/vidlm/models/\(embeddedName)"))
        for data in xdgDataDirectories(environment) {
            add(URL(fileURLWithPath: data).appendingPathComponent("vidlm/models/\(embeddedName)"))
        }
        return urls
    }

    /// `$XDG_DATA_HOME` (default `$HOME/.local/share`), then `$XDG_DATA_DIRS` (default
    /// `/usr/local/share:/usr/share`); relative entries are ignored, as the XDG spec says.
    static func xdgDataDirectories(_ environment: [String: String]) -> [String] {
        var dirs: [String] = []
        if let home = environment["XDG_DATA_HOME"], home.hasPrefix("/") {
            dirs.append(home)
        } else if let home = environment["HOME"], home.hasPrefix("/") {
            dirs.append(home + "/.local/share")
        }
        let shared = environment["XDG_DATA_DIRS"].flatMap { $0.isEmpty ? nil : $0 } ?? "/usr/local/share:/usr/share"
        dirs += shared.split(separator: ":").map(String.init).filter { $0.hasPrefix("/") }
        return dirs
    }

    static func isModelDirectory(_ url: URL) -> Bool {
        FileManager.default.fileExists(atPath: url.appendingPathComponent("config.json").path)
    }

    static func executablePath() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
            ?? Bundle.main.executablePath ?? CommandLine.arguments[0]
    }

    /// One sentence: where the model was looked for and the three ways to fix it.
    static func notFoundMessage(_ candidates: [URL]) -> String {
        "No --model given and the built-in model \(embeddedName) is in none of "
            + candidates.map(\.path).joined(separator: ", ")
            + "; run `make install` in a vidlm checkout, or copy its models/\(embeddedName) to ~/.local/share/vidlm/models/,"
            + " or pass --model DIR (or set VIDLM_MODEL)."
    }

    /// Said once on stderr (terminals only) when the built-in model answers.
    static let builtInNotice = "vidlm: no --model given: the built-in demo model \(embeddedName) knows only its synthetic"
        + " world of coloured shapes, so its answers about real footage mean nothing; for a real checkpoint pass"
        + " --model DIR (docs/model-zoo.md).\n"
}
