/// An engine request that cannot run, in one sentence.
public enum EngineError: Error, Equatable, Sendable, CustomStringConvertible {
    /// config.json names a model_type no family handles.
    case unknownModelType(String, known: [String])
    /// The prompt could not be built.
    case prompt(String)
    /// The media yielded no frames.
    case noFrames(String)
    /// A request option is out of range.
    case invalidOption(String)

    public var description: String {
        switch self {
        case .unknownModelType(let type, let known):
            return "Unknown model_type '\(type)'; vidlm runs \(known.joined(separator: ", "))."
        case .prompt(let why):
            return "Cannot build the prompt: \(why)."
        case .noFrames(let path):
            return "\(path) yielded no frames to look at."
        case .invalidOption(let why):
            return "Invalid option: \(why)."
        }
    }
}
