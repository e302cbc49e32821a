import CFFmpeg

/// A negative libav return code with a name for the codes this package reacts to.
public struct AVError: Error, Equatable, Sendable, CustomStringConvertible {
    public let code: Int32

    public init(code: Int32) { self.code = code }

    public static let eof = AVError(code: vidlm_averror_eof())
    public static let tryAgain = AVError(code: vidlm_averror_eagain())
    public static let invalidData = AVError(code: vidlm_averror_invaliddata())
    public static let decoderNotFound = AVError(code: vidlm_averror_decoder_not_found())
    public static let streamNotFound = AVError(code: vidlm_averror_stream_not_found())
    public static let outOfMemory = AVError(code: vidlm_averror_enomem())
    public static let noSuchFile = AVError(code: vidlm_averror_enoent())
    public static let permissionDenied = AVError(code: vidlm_averror_eacces())
    public static let notImplemented = AVError(code: vidlm_averror_patchwelcome())
    public static let exit = AVError(code: vidlm_averror_exit())

    /// libav's own sentence for the code, e.g. "Invalid data found when processing input".
    public var description: String {
        var buffer = [CChar](repeating: 0, count: 256)
        return buffer.withUnsafeMutableBufferPointer { buf in
            String(cString: vidlm_error_string(code, buf.baseAddress, buf.count))
        }
    }

    /// Throws for negative return codes, passes non-negative ones through.
    @discardableResult
    static func check(_ result: Int32) throws(AVError) -> Int32 {
        if result < 0 { throw AVError(code: result) }
        return result
    }
}
