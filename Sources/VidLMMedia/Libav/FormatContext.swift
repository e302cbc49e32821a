import CFFmpeg

/// Owns one opened `AVFormatContext` (demuxer); closed exactly once, in `deinit`.
final class FormatContext {
    let pointer: UnsafeMutablePointer<AVFormatContext>

    /// Opens `path` and reads stream information. Blocking: call from the decoder's thread.
    /// `probeStreams: false` skips `avformat_find_stream_info` (which decodes frames): only for
    /// containers whose headers carry full codec parameters, opened again after a first probe.
    init(path: String, probeStreams: Bool = true) throws(AVError) {
        var context: UnsafeMutablePointer<AVFormatContext>? = nil
        let opened = avformat_open_input(&context, path, nil, nil)
        guard opened >= 0, let context else { throw AVError(code: opened) }
        pointer = context
        guard probeStreams else { return }
        let info = avformat_find_stream_info(context, nil)
        // Every stored property is set, so throwing runs deinit, which closes the input (closing
        // it here as well freed it twice).
        if info < 0 { throw AVError(code: info) }
    }

    deinit {
        var owned: UnsafeMutablePointer<AVFormatContext>? = pointer
        avformat_close_input(&owned)
    }

    var streamCount: Int { Int(pointer.pointee.nb_streams) }

    func stream(_ index: Int) -> UnsafeMutablePointer<AVStream> {
        pointer.pointee.streams[index]!
    }

    /// Name of the demuxer, e.g. "mov,mp4,m4a,3gp,3g2,mj2".
    var formatName: String {
        guard let iformat = pointer.pointee.iformat else { return "unknown" }
        return String(cString: iformat.pointee.name)
    }

    /// Container duration in seconds, nil when the container does not say.
    var durationSeconds: Double? {
        let d = pointer.pointee.duration
        guard d != vidlm_nopts_value(), d > 0 else { return nil }
        return Double(d) / Double(vidlm_time_base())
    }

    /// Reads the next packet into `packet`; returns false at end of file.
    func readPacket(into packet: Packet) throws(AVError) -> Bool {
        let r = av_read_frame(pointer, packet.pointer)
        if r == AVError.eof.code { return false }
        try AVError.check(r)
        return true
    }

    /// Seeks `stream` to the last key frame at or before `timestamp` (stream time base).
    func seek(stream: Int, to timestamp: Int64) throws(AVError) {
        try AVError.check(av_seek_frame(pointer, Int32(stream), timestamp, AVSEEK_FLAG_BACKWARD))
    }
}
