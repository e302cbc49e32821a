import CFFmpeg
import Foundation
import VidLMTensor

/// One open media file. The actor owns every libav object of that file and runs on a thread of
/// its own (libav calls block); what leaves it are value types.
///
/// Use `MediaDecoder.open(_:)`, then `info`, `timeline()` and `frames(_:)`.
public actor MediaDecoder {
    private nonisolated let executor: DedicatedThreadExecutor
    public nonisolated var unownedExecutor: UnownedSerialExecutor { executor.asUnownedSerialExecutor() }

    public nonisolated let path: String
    /// libav decoding threads; fixed once the codec opens (see `useDecoderThreads`).
    var decoderThreads: Int
    /// Largest accepted picture side; 8K (7680) fits, absurd sizes are refused before allocating.
    public static let maximumSide = 16384

    var format: FormatContext!
    var streamIndex = 0
    var codec: CodecContext?
    let packet: Packet
    let scratch: Frame
    let held: Frame
    /// The frame in `held`: its pts, its index, and whether its pts is one of the timeline's
    /// (else the index is that of the frame on screen at its pts).
    var heldPts: Int64? = nil
    var heldIndex: Int? = nil
    var heldIsExact = false
    let scaler = ScaleContext()

    var info: MediaInfo!
    var cachedTimeline: Timeline?
    /// The cached timeline came from the MP4/MOV sample table: its positions are samples in
    /// decode order (see `nonReferenceFrames`).
    var timelineFromSampleTable = false
    /// For a scanned H.264 timeline, which frames (presentation order) are non-reference pictures.
    var scannedNonReference: [Bool]? = nil
    /// Clockwise rotation that makes pictures upright.
    var rotation = 0
    /// A still's EXIF orientation (1: as stored), applied after decoding.
    var stillOrientation = 1
    /// A still JPEG or WebP decodes through libjpeg or libwebp (`MediaDecoder+Still.swift`).
    var stillLibrary: StillLibrary? = nil

    // Decoding position.
    var needsSeek = true
    /// Nothing read since the file was opened: decoding can start without a seek.
    var atStart = true
    /// A timeline scan moved the read position: the next decode must seek.
    var needsSeekAfterScan = false
    /// Index of the frame the decoder output last since it last seeked.
    var lastOutputIndex: Int? = nil
    /// Index of the key frame the decoder last seeked to (its first output, closed GOPs).
    var anchorIndex: Int? = nil
    /// The key-frame position (`Timeline.keyframes`) decoding last started from.
    var seekPosition = 0
    var packetWaiting = false
    var inputEnded = false
    var warnedCorrupt = false
    /// Skip non-reference frames that are not wanted (they cannot affect any other frame).
    public var skipNonReferenceFrames = true
    /// The frames this decoder will be asked for, in order, when the caller said (`expect`):
    /// non-reference frames after the wanted one are skipped too, and the decoder drains instead
    /// of reading on when the next wanted frame is behind a seek.
    var expected: [Int] = []
    var expectedPts: Set<Int64>? = nil
    /// Non-reference frames after the last wanted one were skipped, so only the frame planned
    /// next (`plannedNext`) may be decoded without a seek; any other request seeks first.
    var skippedAfterTarget = false
    var plannedNext: Int? = nil
    var stats = DecodeStatistics()
    public var statistics: DecodeStatistics { stats }

    private init(path: String, threads: Int) throws(MediaError) {
        self.path = path
        self.decoderThreads = threads
        do {
            packet = try Packet()
            scratch = try Frame()
            held = try Frame()
        } catch {
            throw .decodeFailed(error.description)
        }
        executor = DedicatedThreadExecutor(name: "vidlm-media")
    }

    deinit { executor.shutdown() }

    /// Opens `path` and reads its stream facts. `threads` is the libav decoding threads
    /// (default: all cores, see `ThreadBudget`). A known `timeline` (from another decoder of the
    /// same file) saves a scan.
    public static func open(_ path: String, threads: Int = ThreadBudget.cores,
                            timeline: Timeline? = nil) async throws(MediaError) -> MediaDecoder {
        try validate(path: path)
        LibavLogging.quiet()
        let decoder = try MediaDecoder(path: path, threads: threads)
        try await decoder.openInput(knownTimeline: timeline, probeStreams: true)
        return decoder
    }

    /// Another decoder of the same file for parallel work, sharing what this one learnt: the
    /// timeline, and for MP4/MOV/Matroska (codec parameters in the header) no stream probing.
    func sibling(threads: Int) async throws(MediaError) -> MediaDecoder {
        let t = try timeline()
        let container = info.container
        let probe = !(container.contains("mov") || container.contains("matroska"))
        let decoder = try MediaDecoder(path: path, threads: threads)
        try await decoder.openInput(knownTimeline: t, probeStreams: probe)
        return decoder
    }

    /// Tells the decoder which frames it will be asked for (sorted indices), so that it decodes
    /// no frame that neither they nor the frames they depend on need.
    func expect(_ indices: [Int]) throws(MediaError) {
        let t = try timeline()
        expected = indices.filter { $0 >= 0 && $0 < t.count }
        expectedPts = Set(expected.map { t.pts[$0] })
    }

    /// Sets the libav decoding threads if the codec has not been opened yet.
    func useDecoderThreads(_ n: Int) {
        if codec == nil { decoderThreads = max(1, n) }
    }

    /// Checks the things libav reports badly: missing files, folders, empty files.
    static func validate(path: String) throws(MediaError) {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw .fileNotFound(path)
        }
        if isDirectory.boolValue { throw .isDirectory(path) }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue
        if size == 0 { throw .emptyFile(path) }
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw .unreadable(path: path, reason: "permission denied")
        }
    }

    private func openInput(knownTimeline: Timeline?, probeStreams: Bool) throws(MediaError) {
        do {
            format = try FormatContext(path: path, probeStreams: probeStreams)
        } catch {
            throw .unreadable(path: path, reason: Self.reason(for: error))
        }
        let best = av_find_best_stream(format.pointer, AVMEDIA_TYPE_VIDEO, -1, -1, nil, 0)
        var audioStreams = 0
        for i in 0..<format.streamCount {
            let st = format.stream(i)
            if st.pointee.codecpar.pointee.codec_type == AVMEDIA_TYPE_AUDIO { audioStreams += 1 }
            // Only the chosen video stream is ever read; the demuxer may skip the rest.
            if i != best { st.pointee.discard = AVDISCARD_ALL }
        }
        let container = format.formatName
        let bitRate = format.pointer.pointee.bit_rate > 0 ? Int(format.pointer.pointee.bit_rate) : nil
        info = MediaInfo(path: path, container: container, durationSeconds: nil, durationSource: nil,
                         bitRate: bitRate, streamCount: format.streamCount,
                         audioStreamCount: audioStreams, isStillImage: false, video: nil)
        if let d = format.durationSeconds {
            info.durationSeconds = d
            info.durationSource = "container"
        }
        guard best >= 0 else { return }
        let st = format.stream(Int(best))
        if st.pointee.disposition & vidlm_disposition_attached_pic() != 0 { return } // cover art
        streamIndex = Int(best)
        info.video = describe(stream: st)
        info.isStillImage = container == "image2" || container.hasSuffix("_pipe")
        if let v = info.video, max(v.width, v.height) > Self.maximumSide {
            throw .frameTooLarge(width: v.width, height: v.height, limit: Self.maximumSide)
        }
        if let knownTimeline { cachedTimeline = knownTimeline }
        if info.isStillImage {
            info.video?.frameCount = 1
            info.video?.frameCountSource = "container"
            prepareStill(stream: st)
        }
        if info.durationSeconds == nil, let v = info.video, let d = v.durationSeconds {
            info.durationSeconds = d
            info.durationSource = "stream"
        }
    }

    private func describe(stream st: UnsafeMutablePointer<AVStream>) -> VideoStreamInfo {
        let par = st.pointee.codecpar!
        let tb = st.pointee.time_base
        let tbSeconds = av_q2d(tb)
        let rawRotation = vidlm_stream_display_rotation(st)
        // libav reports counter-clockwise degrees; pictures must turn the other way to stand up.
        if rawRotation.isFinite {
            let cw = Int((-rawRotation).rounded())
            rotation = ((cw % 360) + 360) % 360
            if rotation % 90 != 0 { rotation = 0 }
        }
        let w = Int(par.pointee.width), h = Int(par.pointee.height)
        let swapped = rotation == 90 || rotation == 270
        let start = st.pointee.start_time == vidlm_nopts_value() ? nil : st.pointee.start_time
        let duration: Double? = st.pointee.duration > 0 && st.pointee.duration != vidlm_nopts_value()
            ? Double(st.pointee.duration) * tbSeconds : nil
        let avg = Self.rational(st.pointee.avg_frame_rate)
        let real = Self.rational(st.pointee.r_frame_rate)
        let fps: Double? = avg != nil ? av_q2d(st.pointee.avg_frame_rate) : (real != nil ? av_q2d(st.pointee.r_frame_rate) : nil)
        var count: Int? = nil
        var countSource: String? = nil
        if st.pointee.nb_frames > 0 {
            // Only the MP4/MOV sample table counts frames exactly; an AVI header counts the empty
            // chunks that stand for skipped frames too.
            count = Int(st.pointee.nb_frames)
            countSource = format.formatName.contains("mov") ? "container" : "estimated"
        } else if let fps, let d = duration ?? format.durationSeconds {
            count = Int((d * fps).rounded()); countSource = "estimated"
        }
        var sar = st.pointee.sample_aspect_ratio
        if sar.num == 0 { sar = par.pointee.sample_aspect_ratio }
        let pixelFormat = av_get_pix_fmt_name(AVPixelFormat(rawValue: par.pointee.format)).map { String(cString: $0) } ?? "unknown"
        return VideoStreamInfo(
            streamIndex: Int(st.pointee.index),
            codec: CodecContext.codecName(par.pointee.codec_id, par),
            width: w, height: h,
            displayWidth: swapped ? h : w, displayHeight: swapped ? w : h,
            pixelFormat: pixelFormat,
            averageFrameRate: avg, realFrameRate: real, averageFps: fps,
            averageFpsSource: fps == nil ? nil : "container",
            frameCount: count, frameCountSource: countSource,
            timeBase: "\(tb.num)/\(tb.den)",
            startPts: start, startSeconds: start.map { Double($0) * tbSeconds },
            durationSeconds: duration, rotation: rotation,
            sampleAspectRatio: sar.num > 0 && sar.den > 0 ? "\(sar.num):\(sar.den)" : nil)
    }

    static func rational(_ q: AVRational) -> String? {
        q.num > 0 && q.den > 0 ? "\(q.num)/\(q.den)" : nil
    }

    static func reason(for error: AVError) -> String {
        if error == .invalidData { return "unrecognised or damaged data" }
        return error.description.prefix(1).lowercased() + error.description.dropFirst()
    }

    /// Fails with a clear error unless the file has a video stream.
    func requireVideo() throws(MediaError) -> VideoStreamInfo {
        guard let v = info.video else { throw .noVideoStream(path) }
        return v
    }

    /// Files up to this size are scanned by `probe()` when their container has no exact frame
    /// count (Matroska, WebM, MPEG-TS, GIF, …). Larger ones get an estimate unless the container
    /// lacks a duration too, or a timeline was built already.
    public static let probeScanByteLimit: Int64 = 512 << 20

    /// Probe facts, completed by the timeline where the container lacks them. Frame count and
    /// average rate are exact ("scan") wherever the timeline was scanned; a container's exact
    /// frame count (MP4/MOV sample table, AVI index) is used as is, so probing a long MP4 reads
    /// no packets.
    public func probe() throws(MediaError) -> MediaInfo {
        guard let v = info.video, !info.isStillImage else { return info }
        let exactCount = v.frameCountSource == "container"
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.int64Value
        let small = size.map { $0 <= Self.probeScanByteLimit } ?? false
        guard cachedTimeline != nil || info.durationSeconds == nil || v.frameCount == nil || (!exactCount && small) else {
            return info
        }
        let t = try timeline()
        if info.durationSeconds == nil {
            info.durationSeconds = t.durationSeconds
            info.durationSource = "scan"
        }
        if !exactCount {
            info.video?.frameCount = t.count
            info.video?.frameCountSource = "scan"
            if t.durationSeconds > 0 {
                info.video?.averageFps = Double(t.count) / t.durationSeconds
                info.video?.averageFpsSource = "scan"
            }
        }
        return info
    }

    var timeBase: AVRational { format.stream(streamIndex).pointee.time_base }
}

/// libav logs to stderr by default; vidlm says what went wrong itself.
enum LibavLogging {
    static func quiet() {
        let level = ProcessInfo.processInfo.environment["VIDLM_LIBAV_LOG"].flatMap(Int32.init) ?? AV_LOG_QUIET
        vidlm_set_log_level(level)
    }
}
