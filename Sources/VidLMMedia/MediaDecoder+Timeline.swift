import CFFmpeg

extension MediaDecoder {
    /// The presentation-order frame timeline of the video stream (built once, then cached).
    ///
    /// MP4/MOV files whose sample table shows a constant frame duration get it from the index
    /// without reading any packet; everything else (variable rate, no index, no duration) is
    /// scanned packet by packet. Scanning reads but never decodes.
    public func timeline(forceScan: Bool = false) throws(MediaError) -> Timeline {
        if let cachedTimeline, !forceScan { return cachedTimeline }
        _ = try requireVideo()
        let t: Timeline
        timelineFromSampleTable = false
        scannedNonReference = nil
        if info.isStillImage {
            t = Timeline(pts: [0], timeBase: 1, endPts: 1, keyframes: [.init(seekTimestamp: 0, pts: 0)])
        } else if !forceScan, let indexed = timelineFromIndex() {
            t = indexed
            timelineFromSampleTable = true
        } else {
            t = try scanTimeline()
        }
        guard t.count > 0 else { throw .noFrames(path) }
        cachedTimeline = t
        return t
    }

    /// Constant-rate MP4/MOV: the sample table lists every sample's decode time and key flag.
    /// With a constant sample duration Δ, presentation times are the same grid shifted to the
    /// stream's first pts, so `pts[i] = start + i·Δ`. Returns nil when that does not hold, or when
    /// a key frame's pts (read from its packet) is off that grid.
    private func timelineFromIndex() -> Timeline? {
        guard info.container.contains("mov") else { return nil }
        let st = format.stream(streamIndex)
        let count = Int(avformat_index_get_entries_count(st))
        guard count > 1, st.pointee.nb_frames == Int64(count),
              st.pointee.start_time != vidlm_nopts_value() else { return nil }
        var dts: [Int64] = []
        var sizes: [Int] = []
        var keys: [Int] = []
        dts.reserveCapacity(count)
        sizes.reserveCapacity(count)
        for i in 0..<count {
            guard let e = avformat_index_get_entry(st, Int32(i)) else { return nil }
            if vidlm_index_is_discard(e) != 0 { return nil }
            dts.append(e.pointee.timestamp)
            sizes.append(Int(vidlm_index_size(e)))
            if vidlm_index_is_keyframe(e) != 0 { keys.append(i) }
        }
        let delta = dts[1] - dts[0]
        guard delta > 0, !keys.isEmpty else { return nil }
        for i in 1..<count where dts[i] - dts[i - 1] != delta { return nil }
        let start = st.pointee.start_time
        let pts = (0..<count).map { start + Int64($0) * delta }
        // The seeks below move the read position whatever the outcome.
        needsSeek = true
        needsSeekAfterScan = true
        atStart = false
        // A key frame's presentation time is not in the sample table (open GOPs shift it by
        // their leading frames): seek to each and read its packet. One small read per GOP.
        var keyframes: [Timeline.Keyframe] = []
        keyframes.reserveCapacity(keys.count)
        for k in keys {
            // Forward seek: the demuxer compares against its own (shifted) sample times, so the
            // first key frame at or after this sample's decode time is this sample.
            guard av_seek_frame(format.pointer, Int32(streamIndex), dts[k], 0) >= 0,
                  let keyPts = try? readKeyframePts() else { return nil }
            let offset = keyPts - start
            guard offset >= 0, offset % delta == 0, offset / delta < Int64(count) else { return nil }
            keyframes.append(.init(seekTimestamp: keyPts, pts: keyPts))
        }
        return Timeline(pts: pts, timeBase: av_q2d(st.pointee.time_base),
                        endPts: pts[count - 1] + delta, keyframes: keyframes, packetSizes: sizes,
                        timeBaseRational: Self.rational(of: st.pointee.time_base))
    }

    /// The pts of the next video packet, which must be a key frame.
    private func readKeyframePts() throws(AVError) -> Int64? {
        defer { packet.unref() }
        while try format.readPacket(into: packet) {
            if packet.streamIndex == streamIndex {
                return packet.isKey ? packet.pts : nil
            }
            packet.unref()
        }
        return nil
    }

    /// Reads every packet of the stream (no decoding), then rewinds.
    private func scanTimeline() throws(MediaError) -> Timeline {
        if !atStart { try rewind() }
        var frames: [(pts: Int64, size: Int, nonReference: Bool)] = []
        let referenceFlags = h264ReferenceFlags
        var keyframes: [Timeline.Keyframe] = []
        var lastDuration: Int64 = 0
        var maxPts = Int64.min
        var maxEnd = Int64.min
        var decodeTimestampsOnly = false
        // A rewind may have left the first packet read already.
        var haveWaitingPacket = packetWaiting
        packetWaiting = false
        while true {
            try Task.checkCancellation(or: path)
            if haveWaitingPacket {
                haveWaitingPacket = false
            } else {
                let more: Bool
                do { more = try format.readPacket(into: packet) } catch {
                    if error == .invalidData { stats.corruptPackets += 1; continue }
                    throw .decodeFailed("reading \(path): \(error.description)")
                }
                guard more else { break }
            }
            defer { packet.unref() }
            guard packet.streamIndex == streamIndex, !packet.isDiscard else { continue }
            stats.packetsRead += 1
            guard let p = packet.pts ?? packet.dts else { continue }
            if packet.pts == nil { decodeTimestampsOnly = true }
            frames.append((p, packet.size, referenceFlags.map { packetIsNonReference($0) } ?? false))
            if packet.isKey { keyframes.append(.init(seekTimestamp: p, pts: p)) }
            if p > maxPts { maxPts = p; lastDuration = packet.duration }
            maxEnd = max(maxEnd, p + max(packet.duration, 0))
        }
        needsSeek = true
        needsSeekAfterScan = true
        atStart = false
        inputEnded = false
        // Presentation order. Every packet is a frame: packets with equal pts are frames that
        // share a timestamp (a container rounding times to its time base), not one frame twice.
        frames.sort { $0.pts < $1.pts }
        let pts = frames.map(\.pts)
        if referenceFlags != nil { scannedNonReference = frames.map(\.nonReference) }
        guard !pts.isEmpty else { throw .noFrames(path) }
        if keyframes.isEmpty { keyframes = [.init(seekTimestamp: pts[0], pts: pts[0])] }
        // A frame without a stated duration lasts as long as the average frame.
        if lastDuration <= 0 {
            lastDuration = pts.count > 1 ? max(1, (pts[pts.count - 1] - pts[0]) / Int64(pts.count - 1)) : 1
        }
        let end = max(maxEnd, pts[pts.count - 1] + lastDuration)
        return Timeline(pts: pts, timeBase: av_q2d(timeBase), endPts: end,
                        statedEndPts: max(maxEnd, pts[pts.count - 1]), keyframes: keyframes,
                        timestampsFromDecodeOrder: decodeTimestampsOnly, packetSizes: frames.map(\.size),
                        timeBaseRational: Self.rational(of: timeBase))
    }

    static func rational(of q: AVRational) -> Timeline.Rational {
        Timeline.Rational(num: Int64(q.num), den: Int64(q.den))
    }

    /// Back to the first packet. A seek to the stream start is tried first and checked: some
    /// demuxers (MPEG-TS) land approximately, so unless the first packet read back is the
    /// stream's first, the file is opened again.
    func rewind() throws(MediaError) {
        codec?.flush()
        seekPosition = 0
        lastOutputIndex = nil
        heldPts = nil
        heldIndex = nil
        held.unref()
        packet.unref()
        packetWaiting = false
        inputEnded = false
        let st = format.stream(streamIndex)
        let first = cachedTimeline?.pts.first ?? (st.pointee.start_time == vidlm_nopts_value() ? nil : st.pointee.start_time)
        if let first,
           avformat_seek_file(format.pointer, Int32(streamIndex), Int64.min, first, first, AVSEEK_FLAG_BACKWARD) >= 0,
           (try? readFirstVideoPacket(notAfter: first)) == true {
            packetWaiting = true  // keep it: it is the next packet to decode
            return
        }
        do {
            format = try FormatContext(path: path)
        } catch {
            throw .unreadable(path: path, reason: Self.reason(for: error))
        }
        for i in 0..<format.streamCount where i != streamIndex {
            format.stream(i).pointee.discard = AVDISCARD_ALL
        }
        atStart = true
    }

    /// Reads the next video packet into `packet`; true if it is a key frame presenting no later
    /// than `first` (the stream's first frame), i.e. decoding can start there. Only then does
    /// `packet` keep its payload (a packet read over without unref leaks its buffers).
    private func readFirstVideoPacket(notAfter first: Int64) throws(AVError) -> Bool {
        while try format.readPacket(into: packet) {
            if packet.streamIndex == streamIndex {
                guard packet.isKey, let ts = packet.pts ?? packet.dts, ts <= first else {
                    packet.unref()
                    return false
                }
                return true
            }
            packet.unref()
        }
        return false
    }
}

extension Task where Success == Never, Failure == Never {
    /// Cancellation as a typed media error, for loops inside the decoder actor.
    static func checkCancellation(or path: String) throws(MediaError) {
        if Task.isCancelled { throw MediaError.cancelled }
    }
}
