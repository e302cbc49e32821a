import Foundation

/// What a model folder's `generation_config.json` sets that the engine implements
/// (`repetition_penalty`, `bad_words_ids`), read once when the server starts, as the CLI does.
struct ModelDefaults: Sendable {
    var repetitionPenalty: Float = 1
    var badWordsIds: [[Int]] = []

    static func load(directory: URL) throws -> ModelDefaults {
        let url = directory.appendingPathComponent("generation_config.json")
        guard let data = FileManager.default.contents(atPath: url.path) else { return ModelDefaults() }
        let bad = ServerSetupError("\(url.path) is not a valid generation config.")
        guard let value = try? JSONValue.parse(data), let f = try? JSONFields(value, path: "") else { throw bad }
        var defaults = ModelDefaults()
        let penalty: Double?
        do { penalty = try f.double("repetition_penalty") } catch { throw bad }
        if let penalty {
            guard penalty > 0, penalty.isFinite else { throw bad }
            defaults.repetitionPenalty = Float(penalty)
        }
        let words: [JSONValue]?
        do { words = try f.array("bad_words_ids") } catch { throw bad }
        for entry in words ?? [] {
            guard case .array(let ids) = entry, !ids.isEmpty else { throw bad }
            defaults.badWordsIds.append(try ids.map { id throws(ServerSetupError) -> Int in
                guard case .int(let i) = id, i >= 0 else { throw bad }
                return Int(i)
            })
        }
        return defaults
    }
}
