import Foundation

/// Placeholder replaced below.
public struct SiglipSentencePieceTokenizer: TextIdEncoder {
    public var padTokenId: Int? { nil }
    public var padsLeft: Bool { false }
    public func encode(_ text: String, truncatingTo maxLength: Int?) -> [Int] { [] }
    public static func load(directory: URL) throws(TokenizerError) -> SiglipSentencePieceTokenizer {
        throw TokenizerError.missingFile(path: directory.appendingPathComponent("spiece.model").path)
    }
}
